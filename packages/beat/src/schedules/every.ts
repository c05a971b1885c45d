import { createHash } from 'node:crypto';
import { invalidSchedule, show } from '../errors.js';
import { dateOf, defined, resolveDate, type DateInput, type ScheduleDate } from './common.js';
import {
  checkTimeZone,
  fieldsOf,
  naiveFrom,
  naiveOf,
  nextInstant,
  resolveWall,
  type WallMatcher,
} from './wall-clock.js';

export type EveryUnit = 'seconds' | 'minutes' | 'hours' | 'days' | 'weeks';
export const WEEKDAY_NAMES = [
  'monday',
  'tuesday',
  'wednesday',
  'thursday',
  'friday',
  'saturday',
  'sunday',
] as const;
export type Weekday = (typeof WEEKDAY_NAMES)[number];

/**
 * The data of a fluent `every()` schedule (what is stored and compared). `time` is the
 * normalized `.at()` argument: `HH:MM:SS` for days and weeks, `MM:SS` for hours, `:SS` for
 * minutes. `endDate` is `.until()`.
 */
export interface EverySchedule {
  readonly kind: 'every';
  readonly interval: number;
  /** Upper bound of a random interval (`every(5).to(10)`). */
  readonly maxInterval?: number;
  readonly unit: EveryUnit;
  readonly weekday?: Weekday;
  readonly time?: string;
  /** `.until()`: epoch ms, or an offset-less wall time until the job has a zone (see `ScheduleDate`). */
  readonly endDate?: ScheduleDate;
  readonly timezone?: string;
}

/** An `every()` schedule with the chain methods that refine it. Each returns a new schedule. */
export interface EveryJob extends EverySchedule {
  /**
   * The time the job runs: `'HH:MM'` or `'HH:MM:SS'` for days and weekdays, `'MM:SS'` or
   * `':MM'` for hours, `':SS'` for minutes; read on the wall clock of `timezone`.
   */
  at(time: string, timezone?: string): EveryJob;
  /**
   * No run after this time (the `schedule` library's `until`). A string without an offset is
   * a wall time in the job's time zone.
   */
  until(date: DateInput): EveryJob;
  /** Reads `.at()` times in this IANA time zone. */
  in(timezone: string): EveryJob;
}

/** The unit step of `every(n)`; `to(max)` makes the interval random between n and max. */
export interface EveryBuilder {
  to(maxInterval: number): EveryBuilder;
  second(): EveryJob;
  seconds(): EveryJob;
  minute(): EveryJob;
  minutes(): EveryJob;
  hour(): EveryJob;
  hours(): EveryJob;
  day(): EveryJob;
  days(): EveryJob;
  week(): EveryJob;
  weeks(): EveryJob;
  monday(): EveryJob;
  tuesday(): EveryJob;
  wednesday(): EveryJob;
  thursday(): EveryJob;
  friday(): EveryJob;
  saturday(): EveryJob;
  sunday(): EveryJob;
}

const UNIT_MS: Record<EveryUnit, number> = {
  seconds: 1000,
  minutes: 60_000,
  hours: 3_600_000,
  days: 86_400_000,
  weeks: 604_800_000,
};

/**
 * The `schedule` library's fluent form, with its semantics pinned down so that every beat
 * computes the same run times:
 *
 * - `every(10).minutes()`, `every().hour()`: elapsed time on a grid anchored at the Unix epoch.
 * - `every().day().at('10:30')`, `every().wednesday().at('13:15')`, `every().hour().at(':15')`:
 *   wall-clock times in the schedule's time zone (DST rules in docs/beat.md). `every(3).days()`
 *   runs on every third day counted from 1970-01-01; a day or week with no `.at()` runs at 00:00;
 *   `every(2).weeks()` runs on Mondays of every second week.
 * - `every(5).to(10).days()`: a random interval of 5 to 10 days after each run, drawn from a
 *   hash of the previous run time, so every beat draws the same.
 * - `.until(date)`: no run after `date`.
 *
 * Singular units and weekdays need an interval of one, as in `schedule`.
 *
 * @example
 * ```ts
 * every(10).minutes();
 * every().day().at('10:30', 'Europe/Paris');
 * every().wednesday().at('13:15').until('2026-01-01');
 * ```
 */
export function every(interval = 1): EveryBuilder {
  checkCount(interval, 'every(interval)');
  return builder(interval, undefined);
}

function checkCount(n: unknown, field: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw invalidSchedule(`${field} must be an integer >= 1, got ${show(n)}`, field, n);
  }
}

function builder(interval: number, maxInterval: number | undefined): EveryBuilder {
  const unit = (u: EveryUnit, singular: boolean) => (): EveryJob => {
    if (singular && (interval !== 1 || maxInterval !== undefined)) {
      throw invalidSchedule(
        `every(${interval}).${u.slice(0, -1)}() needs an interval of 1; use every(${interval}).${u}()`,
        'every.unit',
        u.slice(0, -1),
      );
    }
    return job(defined({ kind: 'every' as const, interval, maxInterval, unit: u }));
  };
  const weekday = (d: Weekday) => (): EveryJob => {
    if (interval !== 1 || maxInterval !== undefined) {
      throw invalidSchedule(
        `every(${interval}).${d}() is not supported: a weekday runs every week, so use every().${d}()`,
        'every.weekday',
        d,
      );
    }
    return job({ kind: 'every', interval: 1, unit: 'weeks', weekday: d });
  };
  return {
    to: (max: number) => {
      checkCount(max, 'every().to(max)');
      if (max < interval)
        throw invalidSchedule(
          `every(${interval}).to(${max}): max must be >= ${interval}`,
          'every.maxInterval',
          max,
        );
      return builder(interval, max);
    },
    second: unit('seconds', true),
    seconds: unit('seconds', false),
    minute: unit('minutes', true),
    minutes: unit('minutes', false),
    hour: unit('hours', true),
    hours: unit('hours', false),
    day: unit('days', true),
    days: unit('days', false),
    week: unit('weeks', true),
    weeks: unit('weeks', false),
    monday: weekday('monday'),
    tuesday: weekday('tuesday'),
    wednesday: weekday('wednesday'),
    thursday: weekday('thursday'),
    friday: weekday('friday'),
    saturday: weekday('saturday'),
    sunday: weekday('sunday'),
  };
}

/** Freezes the data and adds the chain methods as non-enumerable properties (so JSON is the data). */
function job(given: EverySchedule): EveryJob {
  // A wall-time `until` is read once the job has a zone, whichever came first in the chain.
  const data =
    given.timezone !== undefined && typeof given.endDate === 'string'
      ? { ...given, endDate: resolveDate(given.endDate, given.timezone) }
      : given;
  const o = { ...data } as EveryJob;
  Object.defineProperties(o, {
    at: {
      value: (time: string, timezone?: string) =>
        job(
          defined({
            ...data,
            time: normalizeTime(data, time),
            timezone:
              timezone === undefined ? data.timezone : checkTimeZone(timezone, 'every.timezone'),
          }),
        ),
    },
    until: {
      value: (date: DateInput) =>
        job({ ...data, endDate: dateOf(date, 'every.until', data.timezone) }),
    },
    in: {
      value: (timezone: string) =>
        job({ ...data, timezone: checkTimeZone(timezone, 'every.timezone') }),
    },
  });
  return Object.freeze(o);
}

const two = (n: number): string => String(n).padStart(2, '0');

function normalizeTime(s: EverySchedule, time: unknown): string {
  const fail = (why: string): never => {
    throw invalidSchedule(
      `every().${s.weekday ?? s.unit}.at(${show(time)}): ${why}`,
      'every.at',
      time,
    );
  };
  if (typeof time !== 'string') return fail('the time must be a string');
  switch (s.unit) {
    case 'days':
    case 'weeks': {
      const m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(time);
      if (!m) return fail('use "HH:MM" or "HH:MM:SS"');
      const [h, mi, se] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
      if (h > 23 || mi > 59 || se > 59) return fail('hour 0-23, minute and second 0-59');
      return `${two(h)}:${two(mi)}:${two(se)}`;
    }
    case 'hours': {
      const m = /^(?:(\d{2}):(\d{2})|:(\d{2}))$/.exec(time);
      if (!m) return fail('for hours use "MM:SS" or ":MM"');
      const [mi, se] = m[3] === undefined ? [Number(m[1]), Number(m[2])] : [Number(m[3]), 0];
      if (mi > 59 || se > 59) return fail('minute and second 0-59');
      return `${two(mi)}:${two(se)}`;
    }
    case 'minutes': {
      const m = /^:(\d{2})$/.exec(time);
      if (!m) return fail('for minutes use ":SS"');
      const se = Number(m[1]);
      if (se > 59) return fail('second 0-59');
      return `:${two(se)}`;
    }
    case 'seconds':
      return fail('a job that runs every so many seconds has no time of day');
  }
}

/** Seconds into the unit period that `time` names. */
function timeOffsetMs(s: EverySchedule): number {
  const parts = (s.time ?? '')
    .split(':')
    .filter((p) => p !== '')
    .map(Number);
  switch (s.unit) {
    case 'days':
    case 'weeks': {
      const [h = 0, m = 0, sec = 0] = parts;
      return ((h * 60 + m) * 60 + sec) * 1000;
    }
    case 'hours': {
      const [m = 0, sec = 0] = parts;
      return (m * 60 + sec) * 1000;
    }
    case 'minutes':
      return (parts[0] ?? 0) * 1000;
    case 'seconds':
      return 0;
  }
}

/** Wall-clock units: a grid in naive time (see wall-clock.ts), anchored so n-day steps count from 1970-01-01. */
function isWallClock(s: EverySchedule): boolean {
  return s.unit === 'days' || s.unit === 'weeks' || s.time !== undefined;
}

const matchers = new WeakMap<object, WallMatcher>();

function matcherOf(s: EverySchedule): WallMatcher {
  let m = matchers.get(s);
  if (m) return m;
  const period = s.interval * UNIT_MS[s.unit];
  // 1970-01-05 was the first Monday after the epoch.
  const weekStart =
    s.unit === 'weeks'
      ? 4 * UNIT_MS.days + WEEKDAY_NAMES.indexOf(s.weekday ?? 'monday') * UNIT_MS.days
      : 0;
  const anchor = weekStart + timeOffsetMs(s);
  m = {
    gap: 'shift',
    overlap: s.unit === 'minutes' || (s.unit === 'hours' && s.interval === 1) ? 'both' : 'first',
    next: (naive) => anchor + (Math.floor((naive - anchor) / period) + 1) * period,
  };
  matchers.set(s, m);
  return m;
}

/** A number in [0, 1) from a hash of the text: the same on every beat. */
export function hashUnit(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0) / 2 ** 32;
}

export function nextEveryRun(
  s: EverySchedule,
  after: number,
  timezone: string,
): number | undefined {
  const tz = s.timezone ?? timezone;
  let t: number | undefined;
  if (s.maxInterval !== undefined) {
    const k =
      s.interval + Math.floor(hashUnit(`every:${after}`) * (s.maxInterval - s.interval + 1));
    if (s.time !== undefined && (s.unit === 'days' || s.unit === 'weeks')) {
      const f = fieldsOf(naiveOf(after, tz));
      const days = s.unit === 'days' ? k : 7 * k;
      const naive = naiveFrom(f.year, f.month, f.day + days) + timeOffsetMs(s);
      const r = resolveWall(naive, tz);
      t = r.kind === 'overlap' ? r.earlier : r.instant;
    } else {
      t = Math.floor(after / 1000) * 1000 + k * UNIT_MS[s.unit];
    }
  } else if (isWallClock(s)) {
    t = nextInstant(matcherOf(s), tz, after);
  } else {
    const period = s.interval * UNIT_MS[s.unit];
    t = (Math.floor(after / period) + 1) * period;
  }
  if (t === undefined || (s.endDate !== undefined && t > resolveDate(s.endDate, tz)))
    return undefined;
  return t;
}
