/**
 * A `basic.nack` is often passing: a quorum queue nacks what it cannot commit while its leader's
 * node is going down, and a queue full with `x-overflow: reject-publish` may have room a moment
 * later. So a nacked message is published again a few times, on a new channel, with growing
 * pauses (about 3 s in all), before its publish fails.
 */
export const NACK_RETRIES = 5;

/** The pause before the `attempt`-th new publish of a nacked message (from 1). */
export function nackRetryDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** (attempt - 1), 2_000);
}

/**
 * Nacked messages waiting for their pause to end, so a publisher's `close()` can fail them
 * instead of leaving their publishes pending.
 */
export class NackRetries<T extends { nacks?: number }> {
  readonly #timers = new Map<T, NodeJS.Timeout>();

  get size(): number {
    return this.#timers.size;
  }

  /** Schedules `again(job)` after the job's next pause; false when its retries are used up. */
  schedule(job: T, again: (job: T) => void): boolean {
    const attempt = (job.nacks ?? 0) + 1;
    if (attempt > NACK_RETRIES) return false;
    job.nacks = attempt;
    const timer = setTimeout(() => {
      this.#timers.delete(job);
      again(job);
    }, nackRetryDelayMs(attempt));
    this.#timers.set(job, timer);
    return true;
  }

  /** Cancels every pause and hands back the jobs that waited. */
  drain(): T[] {
    const jobs = [...this.#timers.keys()];
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    return jobs;
  }
}
