import { defined, instantOf, type DateInput } from './common.js';

/** A single run at a fixed instant. See {@link oneOff}. */
export interface OneOffSchedule {
  readonly kind: 'oneOff';
  /** Epoch milliseconds. */
  readonly at: number;
}

/**
 * Runs once, at `date` (APScheduler's `date` trigger, Celery's `clocked` schedule). An instant
 * needs no time zone: give the `Date` or an ISO string with its offset. Once it has run (or its
 * time has passed under the entry's misfire policy) the entry has no next run.
 *
 * @example
 * ```ts
 * oneOff('2025-12-31T23:59:00+01:00');
 * ```
 */
export function oneOff(date: DateInput): OneOffSchedule {
  return Object.freeze(defined({ kind: 'oneOff' as const, at: instantOf(date, 'oneOff.date') }));
}

export function nextOneOffRun(s: OneOffSchedule, after: number): number | undefined {
  return s.at > after ? s.at : undefined;
}
