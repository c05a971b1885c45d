import { optionTypes as t, type OptionType } from '@celeriac/core/internal';
import { invalidSchedule, scheduleChecks, show } from '../errors.js';
import {
  compileRange,
  defined,
  resolveDate,
  wallToInstant,
  withinRange,
  type RangeOptions,
  type ScheduleRange,
} from './common.js';
import { checkTimeZone } from './wall-clock.js';

/** Options of {@link interval}: APScheduler's interval trigger. The units add up. */
export interface IntervalOptions extends RangeOptions {
  /** @default 0 */
  weeks?: number;
  /** @default 0 */
  days?: number;
  /** @default 0 */
  hours?: number;
  /** @default 0 */
  minutes?: number;
  /** @default 0 */
  seconds?: number;
  /**
   * IANA time zone that reads an offset-less `startDate` / `endDate` and, without a
   * `startDate`, places the grid at midnight of 1 January 1970 on that zone's clock. The period
   * stays elapsed time. @default none: offset-less dates are read in the entry's, else the beat's
   * zone, and the grid is anchored at the Unix epoch (00:00 UTC)
   */
  timezone?: string;
}

/** A fixed period of elapsed time. See {@link interval}. */
export interface IntervalSchedule extends ScheduleRange {
  readonly kind: 'interval';
  /** The period in milliseconds. */
  readonly everyMs: number;
  /** The interval's own time zone: see {@link IntervalOptions.timezone}. */
  readonly timezone?: string;
}

const INTERVAL_SPEC = {
  weeks: t.nonNegative,
  days: t.nonNegative,
  hours: t.nonNegative,
  minutes: t.nonNegative,
  seconds: t.nonNegative,
  timezone: t.string,
  startDate: t.any,
  endDate: t.any,
  jitter: t.any,
} as const satisfies { readonly [K in keyof Required<IntervalOptions>]: OptionType };

const intervalChecks = scheduleChecks('schedule');

const UNIT_MS = {
  weeks: 604_800_000,
  days: 86_400_000,
  hours: 3_600_000,
  minutes: 60_000,
  seconds: 1000,
} as const;

/**
 * Runs every fixed period of elapsed time (APScheduler's `interval` trigger, Celery's
 * `schedule(run_every=...)`). A number is a period in seconds.
 *
 * The runs lie on a grid anchored at `startDate`, or, without one, at the Unix epoch (as
 * Temporal's interval specs), so every beat process, and a restarted one, computes the same
 * run times: `interval({ seconds: 10 })` runs at :00, :10, :20 of each minute, and
 * `interval({ days: 1 })` at 00:00 UTC. With a `timezone` (APScheduler's), an offset-less
 * `startDate` / `endDate` is a wall time in that zone, and without a `startDate` the grid is
 * anchored at midnight, 1 January 1970, on that zone's clock (at that date's offset: Europe/London
 * was on UTC+1 all through 1970). The period is elapsed time, so across a DST change a daily
 * interval keeps 24 hours and its wall-clock time moves; use `crontab` or `every().day().at()`
 * for a wall-clock time.
 *
 * @example
 * ```ts
 * interval({ minutes: 5 });                                   // :00, :05, :10 …
 * interval({ hours: 1, startDate: '2025-01-01T00:30:00Z' });  // every hour at :30 from that date
 * interval({ hours: 4, startDate: '2025-01-10 09:30', timezone: 'Asia/Kolkata' }); // 09:30 IST, 13:30 IST …
 * ```
 */
export function interval(options: IntervalOptions | number): IntervalSchedule {
  const o: IntervalOptions = typeof options === 'number' ? { seconds: options } : options;
  if (typeof o !== 'object' || o === null)
    throw invalidSchedule(
      `interval() takes an options object or seconds, got ${show(options)}`,
      'interval',
      options,
    );
  // A misspelt unit (`minute` for `minutes`) would otherwise be dropped, silently changing the period.
  intervalChecks.strict(o, INTERVAL_SPEC, { prefix: 'interval.' });
  let everyMs = 0;
  for (const unit of ['weeks', 'days', 'hours', 'minutes', 'seconds'] as const) {
    const v = o[unit];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw invalidSchedule(
        `interval.${unit} must be a number >= 0, got ${show(v)}`,
        `interval.${unit}`,
        v,
      );
    }
    everyMs += v * UNIT_MS[unit];
  }
  everyMs = Math.round(everyMs);
  if (everyMs < 1) {
    throw invalidSchedule(
      `interval() needs a period of at least 1 ms (weeks, days, hours, minutes or seconds), got ${show(options)}`,
      'interval',
      options,
    );
  }
  const timezone =
    o.timezone === undefined ? undefined : checkTimeZone(o.timezone, 'interval.timezone');
  return Object.freeze(
    defined({
      kind: 'interval' as const,
      everyMs,
      timezone,
      ...compileRange(o, 'interval', timezone),
    }),
  );
}

/** Midnight, 1 January 1970, on the wall clock (naive ms 0) of each zone. */
const anchors = new Map<string, number>();

/** The grid's anchor without a `startDate`: the Unix epoch, or local midnight of that day in the interval's zone. */
function epochAnchor(s: IntervalSchedule): number {
  if (s.timezone === undefined) return 0;
  let a = anchors.get(s.timezone);
  if (a === undefined) {
    a = wallToInstant(0, s.timezone);
    anchors.set(s.timezone, a);
  }
  return a;
}

/** `timezone` reads wall-time dates of an interval without a zone of its own (the entry's or the beat's). */
export function nextIntervalRun(
  s: IntervalSchedule,
  after: number,
  timezone = 'UTC',
): number | undefined {
  const tz = s.timezone ?? timezone;
  const start = s.startDate === undefined ? undefined : resolveDate(s.startDate, tz);
  const anchor = start ?? epochAnchor(s);
  return withinRange(s, after, tz, (from) => {
    if (from < anchor) return anchor;
    return anchor + (Math.floor((from - anchor) / s.everyMs) + 1) * s.everyMs;
  });
}
