import { optionTypes as t, type OptionType } from '@celeriac/core/internal';
import { invalidSchedule, scheduleChecks, show } from '../errors.js';
import {
  compileRange,
  defined,
  withinRange,
  type RangeOptions,
  type ScheduleRange,
} from './common.js';

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
}

/** A fixed period of elapsed time. See {@link interval}. */
export interface IntervalSchedule extends ScheduleRange {
  readonly kind: 'interval';
  /** The period in milliseconds. */
  readonly everyMs: number;
}

const INTERVAL_SPEC = {
  weeks: t.nonNegative,
  days: t.nonNegative,
  hours: t.nonNegative,
  minutes: t.nonNegative,
  seconds: t.nonNegative,
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
 * `interval({ days: 1 })` at 00:00 UTC. The period is elapsed time, so across a DST change a
 * daily interval keeps 24 hours and its wall-clock time moves; use `crontab` or
 * `every().day().at()` for a wall-clock time.
 *
 * @example
 * ```ts
 * interval({ minutes: 5 });                                   // :00, :05, :10 …
 * interval({ hours: 1, startDate: '2025-01-01T00:30:00Z' });  // every hour at :30 from that date
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
  return Object.freeze(
    defined({ kind: 'interval' as const, everyMs, ...compileRange(o, 'interval') }),
  );
}

export function nextIntervalRun(s: IntervalSchedule, after: number): number | undefined {
  const anchor = s.startDate ?? 0;
  return withinRange(s, after, (from) => {
    if (from < anchor) return anchor;
    return anchor + (Math.floor((from - anchor) / s.everyMs) + 1) * s.everyMs;
  });
}
