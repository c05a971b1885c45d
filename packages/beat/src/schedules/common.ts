import { parseIsoDate } from '@celeriac/core/internal';
import { invalidSchedule, show } from '../errors.js';

/**
 * A point in time as schedules accept it: a `Date`, an ISO-8601 string (a bare date is UTC
 * midnight) or epoch milliseconds.
 */
export type DateInput = Date | string | number;

/** Checks a `DateInput` and returns epoch milliseconds; throws naming `field` otherwise. */
export function instantOf(value: DateInput, field: string): number {
  let ms: number | undefined;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === 'number') ms = value;
  else if (typeof value === 'string')
    ms = /^\d{4}-\d{2}-\d{2}$/.test(value)
      ? Date.parse(`${value}T00:00:00Z`)
      : parseIsoDate(value)?.getTime();
  if (ms === undefined || !Number.isFinite(ms)) {
    throw invalidSchedule(
      `${field} must be a Date, an ISO-8601 string or epoch milliseconds, got ${show(value)}`,
      field,
      value,
    );
  }
  return ms;
}

/** Checks an optional number of seconds >= 0 (`jitter`, durations). */
export function secondsOf(value: unknown, field: string, { positive = false } = {}): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    (positive && value === 0)
  ) {
    throw invalidSchedule(
      `${field} must be a number of seconds ${positive ? '> 0' : '>= 0'}, got ${show(value)}`,
      field,
      value,
    );
  }
  return value;
}

/**
 * Options every calendar schedule (crontab, cron, interval) shares with APScheduler's triggers.
 */
export interface RangeOptions {
  /** No run before this time (for `interval`, also the anchor of the grid). @default none */
  startDate?: DateInput;
  /** No run after this time. @default none */
  endDate?: DateInput;
  /**
   * Delay each run by up to this many seconds, to spread load (APScheduler's `jitter`). The
   * delay is a hash of the entry and the scheduled time, so every beat computes the same one.
   * @default 0
   */
  jitter?: number;
}

/** The compiled form of {@link RangeOptions} that schedules carry (epoch ms, seconds). */
export interface ScheduleRange {
  readonly startDate?: number;
  readonly endDate?: number;
  readonly jitter?: number;
}

export function compileRange(o: RangeOptions, kind: string): ScheduleRange {
  const out: { startDate?: number; endDate?: number; jitter?: number } = {};
  if (o.startDate !== undefined) out.startDate = instantOf(o.startDate, `${kind}.startDate`);
  if (o.endDate !== undefined) out.endDate = instantOf(o.endDate, `${kind}.endDate`);
  if (o.jitter !== undefined && o.jitter !== 0) out.jitter = secondsOf(o.jitter, `${kind}.jitter`);
  if (out.startDate !== undefined && out.endDate !== undefined && out.endDate < out.startDate) {
    throw invalidSchedule(
      `${kind}.endDate (${new Date(out.endDate).toISOString()}) is before startDate (${new Date(out.startDate).toISOString()})`,
      `${kind}.endDate`,
      o.endDate,
    );
  }
  return out;
}

/** Applies a range to a schedule's raw next function: from `startDate` on, nothing after `endDate`. */
export function withinRange(
  range: ScheduleRange,
  after: number,
  next: (after: number) => number | undefined,
): number | undefined {
  const from =
    range.startDate !== undefined && range.startDate - 1 > after ? range.startDate - 1 : after;
  const t = next(from);
  if (t === undefined) return undefined;
  if (range.endDate !== undefined && t > range.endDate) return undefined;
  return t;
}

/** Drops `undefined` values, so optional properties stay absent under exactOptionalPropertyTypes. */
export function defined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]: Exclude<T[K], undefined> };
}
