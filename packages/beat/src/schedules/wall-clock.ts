import { invalidSchedule, show } from '../errors.js';

/**
 * Wall-clock time in an IANA time zone, and the one place that decides what a wall-clock
 * schedule does across daylight-saving changes.
 *
 * A "naive" time is a wall-clock reading (year, month, day, hour, minute, second) encoded as
 * the milliseconds `Date.UTC` gives for it, so calendar arithmetic on it is plain UTC
 * arithmetic. Converting a naive time to an instant needs the zone's offset, and around a
 * transition a naive time maps to no instant (the spring-forward gap) or to two (the
 * fall-back overlap). Each schedule family says what it does there (its matcher's `gap` and
 * `overlap` rules, documented in docs/beat.md):
 *
 * - **Gap** (`gap`). `'shift'`: a wall time that does not exist runs at the instant the same
 *   wall time would have been on the old offset, i.e. shifted forward by the gap (02:30 → 03:30
 *   when clocks jump from 02:00 to 03:00): Temporal's `disambiguation: 'compatible'`, and
 *   APScheduler 3 with pytz (`cron`, `every`). `'atChange'`: it runs once, at the first instant
 *   after the gap (03:00), as Vixie cron runs its fixed-time jobs "soon after the change";
 *   several such times in one gap make one run. `'skip'`: it does not run (Vixie cron's wildcard
 *   jobs, which run "based on the new time").
 * - **Overlap** (`overlap`). `'first'`: a wall time that happens twice runs once, at its first
 *   occurrence. `'both'`: it runs in both passes, so an hourly or every-15-minutes job keeps its
 *   real-time rhythm through the repeated hour (Vixie cron's wildcard jobs).
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
  /**
   * `instant` is where the wall time lands shifted forward by the gap; `transition` is the first
   * instant after the gap (the moment the clocks changed).
   */
  | { readonly kind: 'gap'; readonly instant: number; readonly transition: number }
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
  if (first === undefined)
    return {
      kind: 'gap',
      instant: naive - before,
      transition: transitionBetween(naive - after, naive - before, tz),
    };
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
  /** What a wall time in a spring-forward gap does (see the top of this module). */
  readonly gap: GapRule;
  /** What a wall time in a fall-back overlap does (see the top of this module). */
  readonly overlap: OverlapRule;
}

/** See the top of this module. */
export type GapRule = 'shift' | 'atChange' | 'skip';
/** See the top of this module. */
export type OverlapRule = 'first' | 'both';

/** Where a wall time in a gap runs under `rule`, or undefined when it does not run. */
function gapInstant(
  rule: GapRule,
  r: Extract<WallResolution, { kind: 'gap' }>,
): number | undefined {
  switch (rule) {
    case 'shift':
      return r.instant;
    case 'atChange':
      return r.transition;
    case 'skip':
      return undefined;
  }
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
    // instant: a gap time shifted forward, or the second pass of a repeated hour. (A gap time
    // run at the change maps to the transition, which `forward` finds from any earlier `after`.)
    const t = transitionBetween(lo, hi, tz);
    const oBefore = offsetAt(t - SECOND, tz);
    const oAfter = offsetAt(t, tz);
    const gap = oAfter > oBefore;
    const shift = gap ? oBefore : oAfter;
    const rangeStart = t + Math.min(oBefore, oAfter);
    const rangeEnd = t + Math.max(oBefore, oAfter);
    const looksBack = gap ? matcher.gap === 'shift' : matcher.overlap === 'both';
    if (looksBack && after < t + Math.abs(oAfter - oBefore)) {
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
        if (r.instant > after) return r.instant;
        break;
      case 'gap': {
        const g = gapInstant(matcher.gap, r);
        if (g !== undefined && g > after) return g;
        break;
      }
      case 'overlap':
        if (r.earlier > after) return r.earlier;
        if (matcher.overlap === 'both' && r.later > after) return r.later;
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
