import { parseIsoDate } from '@celeriac/core/internal';
import { invalidSchedule, show } from '../errors.js';
import { fieldsOf, naiveFrom, resolveWall } from './wall-clock.js';

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
 * A date as a schedule keeps it: epoch milliseconds (an instant), or an offset-less wall time
 * `YYYY-MM-DDTHH:MM:SS[.sss]` that is read in the schedule's time zone once it has one (the
 * entry's or the beat's when it names none): see {@link dateOf}.
 */
export type ScheduleDate = number | string;

const DATE_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** A wall-clock reading as naive ms (see wall-clock.ts), or undefined when the fields are out of range. */
function naiveOfFields(m: RegExpExecArray): number | undefined {
  const [y, mo, d, h, mi, se] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Number((m[7] ?? '').slice(0, 3).padEnd(3, '0'));
  const naive = naiveFrom(y, mo, d, h, mi, se) + ms;
  const f = fieldsOf(naive);
  if (f.year !== y || f.month !== mo || f.day !== d || f.hour !== h || f.minute !== mi)
    return undefined;
  return se > 59 ? undefined : naive;
}

/** The offset-less text of a naive time: `2025-01-10T09:30:00` (with `.sss` when not whole). */
function wallText(naive: number): string {
  const iso = new Date(naive).toISOString();
  return iso.endsWith('.000Z') ? iso.slice(0, -5) : iso.slice(0, -1);
}

/** The instant a wall time has in `tz`: shifted by the gap on a spring-forward day, the first of two on a fall-back day. */
export function wallToInstant(naive: number, tz: string): number {
  const r = resolveWall(naive, tz);
  return r.kind === 'overlap' ? r.earlier : r.instant;
}

/**
 * Checks a date given to a schedule (`startDate`, `endDate`, `oneOff`, `.until()`). A `Date`,
 * epoch milliseconds and an ISO string with an offset or `Z` are instants. An ISO string
 * without one (`'2025-01-10 09:30:00'`, `'2025-01-10'` for midnight) is a wall time read in
 * `timezone`; without a time zone yet it stays a wall time ({@link ScheduleDate}) until the
 * schedule gets one. On the days clocks change, a wall time that does not exist is shifted
 * forward by the gap and one that happens twice is the first (Temporal's `'compatible'`).
 */
export function dateOf(value: DateInput, field: string, timezone?: string): ScheduleDate {
  if (typeof value === 'string') {
    const m = DATE_RE.exec(value.trim());
    const naive = m ? naiveOfFields(m) : undefined;
    if (m && naive !== undefined) {
      const zone = m[8];
      if (zone === undefined)
        return timezone === undefined ? wallText(naive) : wallToInstant(naive, timezone);
      const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
      if (!z) return naive;
      const offset = (Number(z[2]) * 60 + Number(z[3] ?? 0)) * 60_000;
      return z[1] === '+' ? naive - offset : naive + offset;
    }
  }
  if (typeof value === 'string' || (!(value instanceof Date) && typeof value !== 'number'))
    throw invalidDate(field, value);
  return instantOf(value, field);
}

function invalidDate(field: string, value: unknown): Error {
  return invalidSchedule(
    `${field} must be a Date, an ISO-8601 string (with an offset or Z for an instant, without one for a wall time in the schedule's time zone) or epoch milliseconds, got ${show(value)}`,
    field,
    value,
  );
}

/** The instant of a schedule date, reading a wall time in `tz`. */
export function resolveDate(date: ScheduleDate, tz: string): number {
  return typeof date === 'number' ? date : wallToInstant(dateOf(date, 'date', 'UTC') as number, tz);
}

/** The wall times of a schedule date pair read in `tz` (the rest unchanged). */
export function resolveDates<T extends { startDate?: ScheduleDate; endDate?: ScheduleDate }>(
  o: T,
  tz: string,
): T {
  const out = { ...o };
  if (out.startDate !== undefined) out.startDate = resolveDate(out.startDate, tz);
  if (out.endDate !== undefined) out.endDate = resolveDate(out.endDate, tz);
  return out;
}

/**
 * Options every calendar schedule (crontab, cron, interval) shares with APScheduler's triggers.
 */
export interface RangeOptions {
  /**
   * No run before this time (for `interval`, also the anchor of the grid). A string without
   * an offset is a wall time in the schedule's time zone. @default none
   */
  startDate?: DateInput;
  /** No run after this time; a string without an offset is a wall time, as `startDate`. @default none */
  endDate?: DateInput;
  /**
   * Move each run by up to this many seconds earlier or later, to spread load (APScheduler's
   * `jitter`, both ways). The move is a hash of the entry and the scheduled time, so every beat
   * computes the same one, and it is at most half the time to the neighbouring runs, so runs
   * stay in order. The run keeps its scheduled time as its identity. @default 0
   */
  jitter?: number;
}

/** The compiled form of {@link RangeOptions} that schedules carry (epoch ms or wall times, seconds). */
export interface ScheduleRange {
  readonly startDate?: ScheduleDate;
  readonly endDate?: ScheduleDate;
  readonly jitter?: number;
}

export function compileRange(o: RangeOptions, kind: string, timezone?: string): ScheduleRange {
  const out: { startDate?: ScheduleDate; endDate?: ScheduleDate; jitter?: number } = {};
  if (o.startDate !== undefined) out.startDate = dateOf(o.startDate, `${kind}.startDate`, timezone);
  if (o.endDate !== undefined) out.endDate = dateOf(o.endDate, `${kind}.endDate`, timezone);
  if (o.jitter !== undefined && o.jitter !== 0) out.jitter = secondsOf(o.jitter, `${kind}.jitter`);
  const { startDate: a, endDate: b } = out;
  // Wall times compare as text; a wall time and an instant only once the zone is known.
  if (a !== undefined && b !== undefined && typeof a === typeof b && b < a) {
    const text = (d: ScheduleDate): string =>
      typeof d === 'number' ? new Date(d).toISOString() : d;
    throw invalidSchedule(
      `${kind}.endDate (${text(b)}) is before startDate (${text(a)})`,
      `${kind}.endDate`,
      o.endDate,
    );
  }
  return out;
}

/**
 * Applies a range to a schedule's raw next function: from `startDate` on, nothing after
 * `endDate`; wall-time bounds are read in `tz`.
 */
export function withinRange(
  range: ScheduleRange,
  after: number,
  tz: string,
  next: (after: number) => number | undefined,
): number | undefined {
  const start = range.startDate === undefined ? undefined : resolveDate(range.startDate, tz);
  const from = start !== undefined && start - 1 > after ? start - 1 : after;
  const t = next(from);
  if (t === undefined) return undefined;
  if (range.endDate !== undefined && t > resolveDate(range.endDate, tz)) return undefined;
  return t;
}

/** Drops `undefined` values, so optional properties stay absent under exactOptionalPropertyTypes. */
export function defined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]: Exclude<T[K], undefined> };
}
