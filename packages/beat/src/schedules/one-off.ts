import { optionTypes as t, type OptionType } from '@celeriac/core/internal';
import { scheduleChecks } from '../errors.js';
import { dateOf, defined, resolveDate, type DateInput, type ScheduleDate } from './common.js';
import { checkTimeZone } from './wall-clock.js';

/** Options of {@link oneOff}. */
export interface OneOffOptions {
  /**
   * IANA time zone that reads a date string without an offset (APScheduler's `timezone`).
   * @default the entry's, else the beat's (`UTC`)
   */
  timezone?: string;
}

/** A single run at a fixed time. See {@link oneOff}. */
export interface OneOffSchedule {
  readonly kind: 'oneOff';
  /** Epoch milliseconds, or an offset-less wall time not yet read in a zone (see `ScheduleDate`). */
  readonly at: ScheduleDate;
}

const OPTIONS_SPEC = { timezone: t.string } as const satisfies {
  readonly [K in keyof Required<OneOffOptions>]: OptionType;
};

const oneOffChecks = scheduleChecks('schedule');

/**
 * Runs once, at `date` (APScheduler's `date` trigger, Celery's `clocked` schedule). A `Date`,
 * epoch milliseconds or an ISO string with an offset or `Z` is an instant; a string without
 * one (`'2018-01-23 18:25:30'`) is a wall time in `timezone`, else the entry's, else the
 * beat's. Once it has run (or its time has passed under the entry's misfire policy) the entry
 * has no next run.
 *
 * @example
 * ```ts
 * oneOff('2025-12-31T23:59:00+01:00');
 * oneOff('2018-01-23 18:25:30', { timezone: 'Europe/Berlin' }); // 17:25:30 UTC
 * ```
 */
export function oneOff(date: DateInput, options: OneOffOptions = {}): OneOffSchedule {
  oneOffChecks.strict(options, OPTIONS_SPEC, { prefix: 'oneOff.' });
  const tz =
    options.timezone === undefined ? undefined : checkTimeZone(options.timezone, 'oneOff.timezone');
  return Object.freeze(defined({ kind: 'oneOff' as const, at: dateOf(date, 'oneOff.date', tz) }));
}

/** `timezone` reads a wall-time `at` (the entry's or the beat's zone). */
export function nextOneOffRun(
  s: OneOffSchedule,
  after: number,
  timezone = 'UTC',
): number | undefined {
  const at = resolveDate(s.at, timezone);
  return at > after ? at : undefined;
}
