/** One time slice of the charts. */
export interface Bucket {
  /** Local epoch milliseconds at the start of the slice. */
  start: number;
  received: number;
  succeeded: number;
  failed: number;
  retried: number;
  /** Sum, count and maximum of the runtimes (seconds) of the tasks that succeeded. */
  runtimeSum: number;
  runtimeCount: number;
  runtimeMax: number;
  /** Sum and count of the waits (seconds) from received to started. */
  waitSum: number;
  waitCount: number;
}

/** The chart data: `buckets` slices of `bucketMs`, oldest first, the current one last. */
export interface SeriesSnapshot {
  bucketMs: number;
  buckets: Bucket[];
}

function empty(start: number): Bucket {
  return {
    start,
    received: 0,
    succeeded: 0,
    failed: 0,
    retried: 0,
    runtimeSum: 0,
    runtimeCount: 0,
    runtimeMax: 0,
    waitSum: 0,
    waitCount: 0,
  };
}

/**
 * Throughput and latency over a sliding window of fixed slices (a ring: memory does not grow
 * with the task rate). Slices are cut on the dashboard's clock, when the event arrives.
 */
export class Series {
  readonly #bucketMs: number;
  readonly #size: number;
  #buckets: Bucket[] = [];

  constructor(bucketMs: number, size: number) {
    this.#bucketMs = bucketMs;
    this.#size = size;
  }

  /** The slice holding `nowMs`, created (and old slices dropped) as time moves on. */
  at(nowMs: number): Bucket {
    const start = nowMs - (nowMs % this.#bucketMs);
    const last = this.#buckets[this.#buckets.length - 1];
    if (last && last.start === start) return last;
    const fresh = empty(start);
    if (last && last.start > start) return fresh; // a clock step back: counted nowhere
    this.#buckets.push(fresh);
    const oldest = start - (this.#size - 1) * this.#bucketMs;
    while ((this.#buckets[0]?.start ?? start) < oldest) this.#buckets.shift();
    return fresh;
  }

  /** The window at `nowMs`, every slice present (empty ones filled in). */
  snapshot(nowMs: number): SeriesSnapshot {
    this.at(nowMs);
    const byStart = new Map(this.#buckets.map((b) => [b.start, b]));
    const end = nowMs - (nowMs % this.#bucketMs);
    const buckets: Bucket[] = [];
    for (let i = this.#size - 1; i >= 0; i--) {
      const start = end - i * this.#bucketMs;
      buckets.push(byStart.get(start) ?? empty(start));
    }
    return { bucketMs: this.#bucketMs, buckets };
  }
}

/**
 * Events per queue over the last `windowMs`, in slices, for a rate (tasks per second) that
 * does not need one timestamp per task kept.
 */
export class QueueRates {
  readonly #sliceMs: number;
  readonly #slices: number;
  readonly #queues = new Map<string, { start: number; counts: number[] }>();
  readonly #max: number;

  constructor(windowMs = 60_000, slices = 12, maxQueues = 1000) {
    this.#sliceMs = windowMs / slices;
    this.#slices = slices;
    this.#max = maxQueues;
  }

  #roll(q: { start: number; counts: number[] }, nowMs: number): void {
    const start = nowMs - (nowMs % this.#sliceMs);
    const steps = Math.round((start - q.start) / this.#sliceMs);
    if (steps <= 0) return;
    q.counts =
      steps >= this.#slices
        ? new Array<number>(this.#slices).fill(0)
        : [...q.counts.slice(steps), ...new Array<number>(steps).fill(0)];
    q.start = start;
  }

  /** Counts one task received from `queue` at `nowMs`. */
  count(queue: string, nowMs: number): void {
    let q = this.#queues.get(queue);
    if (!q) {
      if (this.#queues.size >= this.#max) this.#queues.delete(this.#queues.keys().next().value!);
      q = {
        start: nowMs - (nowMs % this.#sliceMs),
        counts: new Array<number>(this.#slices).fill(0),
      };
      this.#queues.set(queue, q);
    }
    this.#roll(q, nowMs);
    q.counts[this.#slices - 1] = (q.counts[this.#slices - 1] ?? 0) + 1;
  }

  /** Tasks per second into `queue` over the window ending at `nowMs`. */
  rate(queue: string, nowMs: number): number {
    const q = this.#queues.get(queue);
    if (!q) return 0;
    this.#roll(q, nowMs);
    const total = q.counts.reduce((a, b) => a + b, 0);
    return total / ((this.#sliceMs * this.#slices) / 1000);
  }

  /** The queues seen in events. */
  names(): string[] {
    return [...this.#queues.keys()];
  }
}
