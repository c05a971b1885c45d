import { hashUnit } from './every.js';
import { jitterOf, nextRunAfterMs, type Schedule } from './schedule.js';

/**
 * Jitter moves the time a run is *due* (dispatched), never its scheduled time, which stays the
 * run's identity (task id, high-water mark). It is APScheduler's `jitter` both ways,
 * `uniform(-jitter, +jitter)`, with two differences that keep beat's guarantees:
 *
 * - It is drawn from a hash of the entry and the scheduled time, so every beat (and a
 *   restarted one) computes the same due time.
 * - It is at most half the time to the run before and to the run after (less a millisecond),
 *   so due times increase strictly with scheduled times: a run is never due before the previous
 *   run is due (or was scheduled), two runs are never due at once, and a jitter larger than the
 *   period cannot make runs look missed and coalesce them.
 */

/** What the caller already knows about a run's neighbours: a time, `null` for none, or absent. */
export interface JitterContext {
  /** The schedule's run before this one; computed when absent. */
  readonly previous?: number | null | undefined;
  /** The schedule's run after this one; computed when absent. */
  readonly next?: number | null | undefined;
  /** Zone of a schedule without one of its own (as for `nextRunAfter`). @default 'UTC' */
  readonly timezone?: string;
}

/** Runs walked forward when looking for the previous run, before bisecting instead. */
const WALK_STEPS = 32;

/** The last run strictly before `t` and no earlier than `t - window`, or null when there is none. */
function previousRun(schedule: Schedule, t: number, window: number, tz: string): number | null {
  let p = nextRunAfterMs(schedule, t - window - 1, tz);
  if (p === undefined || p >= t) return null;
  for (let i = 0; i < WALK_STEPS; i++) {
    const q = nextRunAfterMs(schedule, p, tz);
    if (q === undefined || q >= t) return p;
    p = q;
  }
  // Many runs in the window (a jitter far longer than the period): bisect for the last one.
  // Invariant: the first run after `hi` is t or later; `lo` is a run before t, or a time
  // followed by a run before t.
  let lo = p;
  let hi = t - 1;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const n = nextRunAfterMs(schedule, mid, tz);
    if (n !== undefined && n < t) lo = mid;
    else hi = mid;
  }
  const last = nextRunAfterMs(schedule, lo, tz);
  return last !== undefined && last < t ? last : lo;
}

/**
 * How far (ms, negative = earlier) the run scheduled at `scheduledAt` is moved: within
 * ±jitter, and within half the time to each neighbouring run. Deterministic: the same on every
 * beat for the same entry and run.
 */
export function jitterOffsetMs(
  schedule: Schedule,
  entryName: string,
  scheduledAt: number,
  context: JitterContext = {},
): number {
  const j = jitterOf(schedule);
  if (j <= 0) return 0;
  const tz = context.timezone ?? 'UTC';
  let cap = Math.round(j * 1000);
  const next =
    context.next !== undefined ? context.next : (nextRunAfterMs(schedule, scheduledAt, tz) ?? null);
  if (next !== null) cap = Math.min(cap, Math.floor((next - scheduledAt - 1) / 2));
  const previous =
    context.previous !== undefined
      ? context.previous
      : previousRun(schedule, scheduledAt, 2 * cap + 1, tz);
  if (previous !== null) cap = Math.min(cap, Math.floor((scheduledAt - previous - 1) / 2));
  if (cap <= 0) return 0;
  return Math.round((hashUnit(`${entryName}:${scheduledAt}`) * 2 - 1) * cap);
}

/** When the run scheduled at `scheduledAt` is due: the scheduled time plus its jitter. */
export function dueAtMs(
  schedule: Schedule,
  entryName: string,
  scheduledAt: number,
  context: JitterContext = {},
): number {
  return scheduledAt + jitterOffsetMs(schedule, entryName, scheduledAt, context);
}

/**
 * @deprecated Jitter moves runs both ways now: use {@link jitterOffsetMs} (this is the same
 * function, and may return a negative number).
 */
export function jitterDelayMs(schedule: Schedule, entryName: string, scheduledAt: number): number {
  return jitterOffsetMs(schedule, entryName, scheduledAt);
}
