import type { Logger } from '@celeriac/core';
import type { EntryDefinition } from './entry.js';
import type { MissedReason } from './events.js';
import { jitterDelayMs, nextRunAfterMs, type Schedule } from './schedules/schedule.js';

/** What to do with an entry whose next run is due: a pure function of the entry and `now`. */
export interface TickPlan {
  /** Scheduled times to enqueue now, oldest first. */
  readonly dispatch: readonly number[];
  /** Runs that were due (from the stored next run up to now). */
  readonly due: number;
  /** Due runs merged into a later one (`coalesce`). */
  readonly coalesced: number;
  /** Due runs beyond `catchUpLimit`. */
  readonly dropped: number;
  /** Kept runs skipped because they were later than `misfireGraceTime`. */
  readonly misfired: readonly number[];
  /** The next scheduled time after the due ones; null when the schedule has no more. */
  readonly nextRunAt: number | null;
  /** When that run is due: `nextRunAt` plus its jitter. */
  readonly dueAt: number | null;
  /** True when more than {@link MAX_SCAN} runs were due and the plan jumped to `now`. */
  readonly truncated: boolean;
  /**
   * The skipped runs (merged, over the catch-up cap, later than the grace), oldest first, for
   * beat's `missed` event: at most {@link MAX_MISSED_LISTED} (the counts above stay exact).
   */
  readonly missed: readonly { readonly scheduledAt: number; readonly reason: MissedReason }[];
}

/** Skipped runs a plan lists at most (a per-second entry down for a day skips 86,400). */
export const MAX_MISSED_LISTED = 1000;

/** Due runs walked through at most, for one entry and one plan (a per-second entry down for a day). */
export const MAX_SCAN = 100_000;

export interface PlanInput {
  readonly definition: Pick<
    EntryDefinition,
    'name' | 'misfireGraceTime' | 'coalesce' | 'catchUp' | 'catchUpLimit'
  >;
  readonly schedule: Schedule;
  /** The stored next run. */
  readonly nextRunAt: number;
  readonly now: number;
}

/**
 * Walks the runs due from the stored next run up to `now` and applies the misfire policy:
 * keep the latest (`coalesce`, the default) or up to `catchUpLimit` of them (`catchUp`, or
 * `coalesce: false`), then skip the kept ones later than `misfireGraceTime`. The grace is
 * measured from the run's due time (scheduled time plus jitter), as in APScheduler.
 */
export function planTicks({ definition: d, schedule, nextRunAt, now }: PlanInput): TickPlan {
  const keep = d.catchUp || !d.coalesce ? d.catchUpLimit : 1;
  const dueAt = (t: number): number => t + jitterDelayMs(schedule, d.name, t);
  const kept: number[] = [];
  let count = 0;
  let t: number | undefined = nextRunAt;
  let truncated = false;
  const missed: { scheduledAt: number; reason: MissedReason }[] = [];
  const limitReason: MissedReason = keep === 1 ? 'coalesced' : 'dropped';
  while (t !== undefined && dueAt(t) <= now) {
    if (count >= MAX_SCAN) {
      truncated = true;
      t = nextRunAfterMs(schedule, now);
      break;
    }
    count++;
    kept.push(t);
    if (kept.length > keep) {
      const skipped = kept.shift();
      if (skipped !== undefined && missed.length < MAX_MISSED_LISTED)
        missed.push({ scheduledAt: skipped, reason: limitReason });
    }
    t = nextRunAfterMs(schedule, t);
  }
  const graceMs = d.misfireGraceTime === null ? Infinity : d.misfireGraceTime * 1000;
  const dispatch: number[] = [];
  const misfired: number[] = [];
  for (const k of kept) (now - dueAt(k) > graceMs ? misfired : dispatch).push(k);
  for (const k of misfired)
    if (missed.length < MAX_MISSED_LISTED) missed.push({ scheduledAt: k, reason: 'misfire' });
  const skippedByLimit = count - kept.length;
  return {
    dispatch,
    due: count,
    coalesced: keep === 1 ? skippedByLimit : 0,
    dropped: keep === 1 ? 0 : skippedByLimit,
    misfired,
    nextRunAt: t ?? null,
    dueAt: t === undefined ? null : dueAt(t),
    truncated,
    missed,
  };
}

const iso = (t: number): string => new Date(t).toISOString();

/** Logs what a plan merged or skipped, so a missed run is never dropped silently. */
export function logPlan(
  log: Logger,
  d: Pick<EntryDefinition, 'name' | 'misfireGraceTime' | 'catchUpLimit'>,
  plan: TickPlan,
): void {
  if (plan.coalesced > 0)
    log.info(
      { entry: d.name, coalesced: plan.coalesced, kept: plan.dispatch.map(iso) },
      'beat: coalesced missed runs into one',
    );
  if (plan.dropped > 0)
    log.warn(
      { entry: d.name, dropped: plan.dropped, limit: d.catchUpLimit },
      'beat: catch-up limit reached; skipped the oldest missed runs',
    );
  if (plan.misfired.length > 0) {
    log.warn(
      { entry: d.name, skipped: plan.misfired.map(iso), misfireGraceTime: d.misfireGraceTime },
      'beat: skipped runs later than misfireGraceTime',
    );
  }
  if (plan.truncated)
    log.warn({ entry: d.name }, 'beat: more missed runs than can be walked; skipped to now');
}
