import { optionTypes as t, type OptionType } from '@celeriac/core/internal';
import { invalidSchedule, scheduleChecks, show } from '../errors.js';
import {
  compileRange,
  defined,
  withinRange,
  type RangeOptions,
  type ScheduleRange,
} from './common.js';
import {
  checkTimeZone,
  daysInMonth,
  fieldsOf,
  naiveFrom,
  nextInstant,
  nextWholeSecond,
  type WallMatcher,
} from './wall-clock.js';

/** The fields of APScheduler's cron trigger, most significant first. */
export const CRON_FIELD_NAMES = [
  'year',
  'month',
  'day',
  'week',
  'dayOfWeek',
  'hour',
  'minute',
  'second',
] as const;
export type CronFieldName = (typeof CRON_FIELD_NAMES)[number];

/**
 * Options of {@link cron}: APScheduler 3's `CronTrigger` fields. Each field takes `*`, `*\/n`,
 * `a`, `a-b`, `a-b/n`, `a/n`, or a comma-separated list of those; `month` and `dayOfWeek`
 * also take names (`jan-mar`, `mon-fri`), and `day` also takes `last` (the last day of the
 * month), `last fri` and `1st`..`5th` + a weekday (`3rd fri`).
 *
 * Fields more significant than the least significant one given default to `*`, the less
 * significant ones to their minimum (so `{ hour: 3 }` is 03:00:00 daily), except `week` and
 * `dayOfWeek`, which default to `*`: APScheduler's rule.
 */
export interface CronOptions extends RangeOptions {
  /** 4-digit year, 1970-9999. @default '*' */
  year?: string | number;
  /** 1-12 or `jan`-`dec`. @default '*', or 1 when a coarser field is the finest given */
  month?: string | number;
  /** 1-31, `last`, `last fri`, `3rd fri`. @default '*', or 1 when a coarser field is the finest given */
  day?: string | number;
  /** ISO week number 1-53. @default '*' */
  week?: string | number;
  /** 0-6 with **0 = Monday** (APScheduler's numbering), or `mon`-`sun`. @default '*' */
  dayOfWeek?: string | number;
  /** 0-23. @default '*', or 0 when a coarser field is the finest given */
  hour?: string | number;
  /** 0-59. @default '*', or 0 when a coarser field is the finest given */
  minute?: string | number;
  /** 0-59. @default '*', or 0 when a coarser field is the finest given */
  second?: string | number;
  /** IANA time zone the fields are read in. @default the entry's, else the beat's (`UTC`) */
  timezone?: string;
}

/** APScheduler-style cron fields, with defaults applied. See {@link cron}. */
export interface CronSchedule extends ScheduleRange {
  readonly kind: 'cron';
  readonly fields: Readonly<Record<CronFieldName, string>>;
  readonly timezone?: string;
}

const BOUNDS: Record<CronFieldName, readonly [number, number]> = {
  year: [1970, 9999],
  month: [1, 12],
  day: [1, 31],
  week: [1, 53],
  dayOfWeek: [0, 6],
  hour: [0, 23],
  minute: [0, 59],
  second: [0, 59],
};
const DEFAULTS: Record<CronFieldName, string> = {
  year: '*',
  month: '1',
  day: '1',
  week: '*',
  dayOfWeek: '*',
  hour: '0',
  minute: '0',
  second: '0',
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const ORDINALS = ['1st', '2nd', '3rd', '4th', '5th'];

/**
 * APScheduler's cron trigger: calendar fields down to the second, including ISO week numbers
 * and the day expressions `last`, `last fri` and `3rd fri`. All fields must match (unlike Unix
 * cron's either-day rule). Evaluated on the wall clock of `timezone` with the DST rules of
 * docs/beat.md; an invalid field throws `CELERIAC_ERR_INVALID_SCHEDULE` naming it.
 *
 * @example
 * ```ts
 * cron({ day: '3rd fri', hour: 9 });                                  // 09:00 on the third Friday
 * cron({ day: 'last', hour: 18, timezone: 'America/New_York' });      // 18:00 on the last day of each month
 * cron({ dayOfWeek: 'mon-fri', hour: '9-17', minute: '*\/30' });       // every half hour in office hours
 * ```
 */
const CRON_SPEC = {
  year: t.any,
  month: t.any,
  day: t.any,
  week: t.any,
  dayOfWeek: t.any,
  hour: t.any,
  minute: t.any,
  second: t.any,
  timezone: t.string,
  startDate: t.any,
  endDate: t.any,
  jitter: t.any,
} as const satisfies { readonly [K in keyof Required<CronOptions>]: OptionType };

const cronChecks = scheduleChecks('schedule');

export function cron(options: CronOptions = {}): CronSchedule {
  if (typeof options !== 'object' || options === null)
    throw invalidSchedule(`cron() takes an options object, got ${show(options)}`, 'cron', options);
  cronChecks.strict(options, CRON_SPEC, { prefix: 'cron.' });
  const given = CRON_FIELD_NAMES.filter((f) => options[f] !== undefined);
  const last =
    given.length === 0 ? -1 : CRON_FIELD_NAMES.indexOf(given[given.length - 1] as CronFieldName);
  const fields = {} as Record<CronFieldName, string>;
  CRON_FIELD_NAMES.forEach((name, i) => {
    const v = options[name];
    if (v !== undefined) {
      if (
        (typeof v !== 'string' || v.trim() === '') &&
        !(typeof v === 'number' && Number.isInteger(v))
      ) {
        throw invalidSchedule(
          `cron.${name} must be a cron field string or an integer, got ${show(v)}`,
          `cron.${name}`,
          v,
        );
      }
      fields[name] = String(v).trim().toLowerCase();
    } else {
      fields[name] = last >= 0 && i > last ? DEFAULTS[name] : '*';
    }
  });
  const timezone =
    options.timezone === undefined ? undefined : checkTimeZone(options.timezone, 'cron.timezone');
  const schedule = defined({
    kind: 'cron' as const,
    fields: Object.freeze(fields),
    timezone,
    ...compileRange(options, 'cron', timezone),
  });
  compiled(schedule);
  return Object.freeze(schedule);
}

/** Day expressions that depend on the month: `last`, `last fri`, `3rd fri`. */
type DayRule =
  | { kind: 'last' }
  | { kind: 'nth'; n: number; weekday: number }
  | { kind: 'lastWeekday'; weekday: number };

interface Field {
  readonly values: readonly number[];
  readonly set: ReadonlySet<number>;
}

interface Compiled {
  readonly year: Field;
  readonly month: Field;
  readonly day: Field;
  readonly dayRules: readonly DayRule[];
  readonly week: Field;
  readonly dayOfWeek: Field;
  readonly hour: Field;
  readonly minute: Field;
  readonly second: Field;
  readonly matcher: WallMatcher;
}

const cache = new WeakMap<object, Compiled>();

function bad(name: CronFieldName, text: string, why: string): never {
  throw invalidSchedule(`cron.${name} "${text}": ${why}`, `cron.${name}`, text);
}

function parseNumber(name: CronFieldName, text: string, token: string): number {
  const [lo, hi] = BOUNDS[name];
  let n: number;
  if (/^\d+$/.test(token)) n = Number(token);
  else if (name === 'month' && MONTHS.includes(token)) n = MONTHS.indexOf(token) + 1;
  else if (name === 'dayOfWeek' && WEEKDAYS.includes(token)) n = WEEKDAYS.indexOf(token);
  else
    bad(
      name,
      text,
      `"${token}" is not a number${name === 'month' ? ' or a month name (jan-dec)' : name === 'dayOfWeek' ? ' or a weekday name (mon-sun)' : ''}`,
    );
  if (n < lo || n > hi) bad(name, text, `${n} is out of range ${lo}-${hi}`);
  return n;
}

function parseField(name: CronFieldName, text: string): { field: Field; rules: DayRule[] } {
  const [lo, hi] = BOUNDS[name];
  const values = new Set<number>();
  const rules: DayRule[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') bad(name, text, 'empty list item');
    if (name === 'day') {
      if (item === 'last') {
        rules.push({ kind: 'last' });
        continue;
      }
      const m = /^(1st|2nd|3rd|4th|5th|last)\s+([a-z]+)$/.exec(item);
      if (m) {
        const weekday = WEEKDAYS.indexOf(m[2] ?? '');
        if (weekday < 0) bad(name, text, `"${m[2] ?? ''}" is not a weekday name (mon-sun)`);
        rules.push(
          m[1] === 'last'
            ? { kind: 'lastWeekday', weekday }
            : { kind: 'nth', n: ORDINALS.indexOf(m[1] ?? '') + 1, weekday },
        );
        continue;
      }
    }
    const m = /^([^-/]+)(?:-([^-/]+))?(?:\/(\d+))?$/.exec(item);
    if (!m) bad(name, text, `cannot parse "${item}"`);
    const step = m[3] === undefined ? 1 : Number(m[3]);
    if (step < 1) bad(name, text, 'a step must be at least 1');
    let first: number;
    let lastValue: number;
    if (m[1] === '*') {
      if (m[2] !== undefined) bad(name, text, `"${item}" is not a range`);
      first = lo;
      lastValue = hi;
    } else {
      first = parseNumber(name, text, m[1] ?? '');
      lastValue =
        m[2] === undefined ? (m[3] === undefined ? first : hi) : parseNumber(name, text, m[2]);
      if (lastValue < first) bad(name, text, `the range ${item} ends before it starts`);
    }
    for (let v = first; v <= lastValue; v += step) values.add(v);
  }
  const sorted = [...values].sort((a, b) => a - b);
  return { field: { values: sorted, set: new Set(sorted) }, rules };
}

function isoWeek(year: number, month: number, day: number): number {
  const t = naiveFrom(year, month, day);
  const mondayBased = (new Date(t).getUTCDay() + 6) % 7;
  const thursday = new Date(t + (3 - mondayBased) * 86_400_000);
  const jan1 = naiveFrom(thursday.getUTCFullYear(), 1, 1);
  return 1 + Math.floor((thursday.getTime() - jan1) / 86_400_000 / 7);
}

function dayMatches(
  c: Compiled,
  year: number,
  month: number,
  day: number,
  weekday: number,
): boolean {
  const mondayBased = (weekday + 6) % 7;
  if (!c.dayOfWeek.set.has(mondayBased)) return false;
  if (c.week.values.length !== 53 && !c.week.set.has(isoWeek(year, month, day))) return false;
  if (c.day.set.has(day)) return true;
  const dim = daysInMonth(year, month);
  for (const rule of c.dayRules) {
    switch (rule.kind) {
      case 'last':
        if (day === dim) return true;
        break;
      case 'nth':
        if (mondayBased === rule.weekday && Math.ceil(day / 7) === rule.n) return true;
        break;
      case 'lastWeekday':
        if (mondayBased === rule.weekday && day + 7 > dim) return true;
        break;
    }
  }
  return false;
}

/** The first (h, m, s) at or after the given time of day, or undefined when the day has none. */
function firstTime(
  c: Compiled,
  h0: number,
  m0: number,
  s0: number,
): [number, number, number] | undefined {
  for (const h of c.hour.values) {
    if (h < h0) continue;
    for (const m of c.minute.values) {
      if (h === h0 && m < m0) continue;
      for (const s of c.second.values) {
        if (h === h0 && m === m0 && s < s0) continue;
        return [h, m, s];
      }
    }
  }
  return undefined;
}

const MAX_STEPS = 200_000;

function compiled(s: CronSchedule): Compiled {
  const hit = cache.get(s);
  if (hit) return hit;
  const parts = {} as Record<CronFieldName, Field>;
  let dayRules: DayRule[] = [];
  for (const name of CRON_FIELD_NAMES) {
    const { field, rules } = parseField(name, s.fields[name]);
    parts[name] = field;
    if (name === 'day') dayRules = rules;
  }
  const c: Compiled = {
    ...parts,
    dayRules,
    matcher: {
      // APScheduler 3 (pytz) shifts a nonexistent time forward by the gap; a schedule with
      // every hour keeps its rhythm through a repeated hour (see docs/beat.md).
      gap: 'shift',
      overlap: parts.hour.values.length === 24 ? 'both' : 'first',
      next: (naive) => {
        let t = nextWholeSecond(naive);
        for (let i = 0; i < MAX_STEPS; i++) {
          const f = fieldsOf(t);
          if (f.year > 9999) return undefined;
          if (!c.year.set.has(f.year)) {
            const y = c.year.values.find((v) => v > f.year);
            if (y === undefined) return undefined;
            t = naiveFrom(y, 1, 1);
            continue;
          }
          if (!c.month.set.has(f.month)) {
            const mo = c.month.values.find((v) => v > f.month);
            t = mo === undefined ? naiveFrom(f.year + 1, 1, 1) : naiveFrom(f.year, mo, 1);
            continue;
          }
          if (!dayMatches(c, f.year, f.month, f.day, f.weekday)) {
            t = naiveFrom(f.year, f.month, f.day + 1);
            continue;
          }
          const hms = firstTime(c, f.hour, f.minute, f.second);
          if (!hms) {
            t = naiveFrom(f.year, f.month, f.day + 1);
            continue;
          }
          return naiveFrom(f.year, f.month, f.day, ...hms);
        }
        return undefined;
      },
    },
  };
  if (c.year.values.length === 0) bad('year', s.fields.year, 'matches no year');
  cache.set(s, c);
  return c;
}

export function nextCronRun(s: CronSchedule, after: number, timezone: string): number | undefined {
  const { matcher } = compiled(s);
  const tz = s.timezone ?? timezone;
  return withinRange(s, after, tz, (from) => nextInstant(matcher, tz, from));
}
