import { invalidSchedule, show } from '../errors.js';

/**
 * Wall-clock time in an IANA time zone, and the one place that decides what a wall-clock
 * schedule does across daylight-saving changes.
 *
 * A "naive" time is a wall-clock reading (year, month, day, hour, minute, second) encoded as
 * the milliseconds `Date.UTC` gives for it, so calendar arithmetic on it is plain UTC
 * arithmetic. Converting a naive time to an instant needs the zone's offset, and around a
 * transition a naive time maps to no instant (the spring-forward gap) or to two (the
 * fall-back overlap). The rules, documented in docs/beat.md:
 *
 * - **Gap.** A wall time that does not exist runs at the instant the same wall time would have
 *   been on the old offset, i.e. shifted forward by the gap (02:30 → 03:30 when clocks jump
 *   from 02:00 to 03:00). This is Temporal's `disambiguation: 'compatible'`.
 * - **Overlap.** A wall time that happens twice runs once, at its first occurrence, unless the
 *   schedule fires every hour (cron's hour field `*`), in which case it runs in both passes, so
 *   that an hourly or every-15-minutes job keeps its real-time rhythm through the repeated hour.
 *   This is Vixie cron's rule for fixed-time versus wildcard jobs.
 */

const SECOND = 1000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Wider than any gap or overlap in the time-zone database (the widest are 2 hours). */
const TRANSITION_WINDOW = 3 * HOUR;

const formatters = new Map<string, Intl.DateTimeFormat>();

function isUtc(tz: string): boolean {
  return tz === 'UTC' || tz === 'Etc/UTC' || tz === 'Etc/GMT' || tz === 'GMT';
}

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/**
 * Checks an IANA time-zone name (`Europe/London`, `America/New_York`, `UTC`) and returns it in
 * its canonical spelling. Throws `CELERIAC_ERR_INVALID_SCHEDULE` naming `field` otherwise.
 */
export function checkTimeZone(tz: unknown, field = 'timezone'): string {
  if (typeof tz !== 'string' || tz === '') {
    throw invalidSchedule(
      `${field} must be an IANA time-zone name such as "Europe/London", got ${show(tz)}`,
      field,
      tz,
    );
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch (err) {
    throw invalidSchedule(
      `${field} ${show(tz)} is not an IANA time-zone name (such as "Europe/London" or "UTC")`,
      field,
      tz,
      err,
    );
  }
}

/** The wall-clock reading at `instant` in `tz`, as a naive time (see above). */
export function naiveOf(instant: number, tz: string): number {
  if (isUtc(tz)) return instant;
  const ms = ((instant % SECOND) + SECOND) % SECOND;
  const whole = instant - ms;
  let year = 0;
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let bc = false;
  for (const part of formatter(tz).formatToParts(whole)) {
    switch (part.type) {
      case 'year':
        year = Number(part.value);
        break;
      case 'month':
        month = Number(part.value);
        break;
      case 'day':
        day = Number(part.value);
        break;
      case 'hour':
        hour = Number(part.value);
        break;
      case 'minute':
        minute = Number(part.value);
        break;
      case 'second':
        second = Number(part.value);
        break;
      case 'era':
        bc = part.value.startsWith('B');
        break;
      default:
        break;
    }
  }
  const d = new Date(0);
  d.setUTCFullYear(bc ? 1 - year : year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime();
}

/** The zone's UTC offset at `instant`, in milliseconds (east positive, as `naive - instant`). */
export function offsetAt(instant: number, tz: string): number {
  if (isUtc(tz)) return 0;
  return naiveOf(instant, tz) - instant;
}

/** What a naive time is in a zone: one instant, none (a gap) or two (an overlap). */
export type WallResolution =
  | { readonly kind: 'single'; readonly instant: number }
  /** `instant` is where the wall time lands under the rule for gaps (shifted by the gap). */
  | { readonly kind: 'gap'; readonly instant: number }
  | { readonly kind: 'overlap'; readonly earlier: number; readonly later: number };

/** Resolves a naive time in `tz`, assuming at most one offset change within a day of it. */
export function resolveWall(naive: number, tz: string): WallResolution {
  if (isUtc(tz)) return { kind: 'single', instant: naive };
  const before = offsetAt(naive - DAY, tz);
  const after = offsetAt(naive + DAY, tz);
  const found: number[] = [];
  for (const o of before === after ? [before] : [before, after]) {
    const t = naive - o;
    if (offsetAt(t, tz) === o && !found.includes(t)) found.push(t);
  }
  found.sort((a, b) => a - b);
  const [first, second] = found;
  if (first === undefined) return { kind: 'gap', instant: naive - before };
  if (second === undefined) return { kind: 'single', instant: first };
  return { kind: 'overlap', earlier: first, later: second };
}

/** The instant `tz` changes offset between `lo` and `hi` (whose offsets differ), to the second. */
function transitionBetween(lo: number, hi: number, tz: string): number {
  const oLo = offsetAt(lo, tz);
  let a = Math.floor(lo / SECOND);
  let b = Math.ceil(hi / SECOND);
  while (b - a > 1) {
    const mid = a + Math.floor((b - a) / 2);
    if (offsetAt(mid * SECOND, tz) === oLo) a = mid;
    else b = mid;
  }
  return b * SECOND;
}

/**
 * The wall-clock side of a schedule: the next matching naive time strictly after a naive
 * time, at whole seconds. Pure calendar arithmetic, no time zone involved.
 */
export interface WallMatcher {
  next(naive: number): number | undefined;
  /** True when the schedule fires in every hour of the day (runs both passes of an overlap). */
  readonly everyHour: boolean;
}

/**
 * The first instant strictly after `after` at which a wall-clock schedule fires in `tz`,
 * following the gap and overlap rules at the top of this module.
 */
export function nextInstant(matcher: WallMatcher, tz: string, after: number): number | undefined {
  if (isUtc(tz)) return matcher.next(after);
  let best = forward(matcher, tz, after);
  const lo = after - TRANSITION_WINDOW;
  const hi = after + TRANSITION_WINDOW;
  const oLo = offsetAt(lo, tz);
  if (oLo !== offsetAt(hi, tz)) {
    // Near a transition, a wall time earlier than `after`'s own can still map to a later
    // instant: a gap time shifted forward, or the second pass of a repeated hour.
    const t = transitionBetween(lo, hi, tz);
    const oBefore = offsetAt(t - SECOND, tz);
    const oAfter = offsetAt(t, tz);
    const gap = oAfter > oBefore;
    const shift = gap ? oBefore : oAfter;
    const rangeStart = t + Math.min(oBefore, oAfter);
    const rangeEnd = t + Math.max(oBefore, oAfter);
    if ((gap || matcher.everyHour) && after < t + Math.abs(oAfter - oBefore)) {
      const c = matcher.next(Math.max(after + shift, rangeStart - SECOND));
      if (c !== undefined && c < rangeEnd) {
        const instant = c - shift;
        if (instant > after && (best === undefined || instant < best)) best = instant;
      }
    }
  }
  return best;
}

const MAX_FORWARD_STEPS = 10_000;

function forward(matcher: WallMatcher, tz: string, after: number): number | undefined {
  let c = naiveOf(after, tz);
  for (let i = 0; i < MAX_FORWARD_STEPS; i++) {
    const n = matcher.next(c);
    if (n === undefined) return undefined;
    c = n;
    const r = resolveWall(c, tz);
    switch (r.kind) {
      case 'single':
      case 'gap':
        if (r.instant > after) return r.instant;
        break;
      case 'overlap':
        if (r.earlier > after) return r.earlier;
        if (matcher.everyHour && r.later > after) return r.later;
        break;
    }
  }
  return undefined;
}

/** Calendar fields of a naive time. `weekday` is 0 = Sunday … 6 = Saturday, as `Date`. */
export interface WallFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

export function fieldsOf(naive: number): WallFields {
  const d = new Date(naive);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    weekday: d.getUTCDay(),
  };
}

/** A naive time from calendar fields (month 1-12); out-of-range fields roll over as in `Date.UTC`. */
export function naiveFrom(
  year: number,
  month: number,
  day: number,
  hour = 0,
  minute = 0,
  second = 0,
): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime();
}

export function daysInMonth(year: number, month: number): number {
  return new Date(naiveFrom(year, month + 1, 0)).getUTCDate();
}

/** Whole seconds strictly after `naive`. */
export function nextWholeSecond(naive: number): number {
  return Math.floor(naive / SECOND) * SECOND + SECOND;
}
