/**
 * The jobs being added: so that `scheduler.every(10).minutes().do(job)` without `await` is seen
 * by the next `runPending()`, `start()` or `getJobs()`, which wait for them first.
 */
export class PendingWrites {
  readonly #writes = new Set<Promise<unknown>>();
  /** The first failure of a write nobody awaits (`scheduledJob`), thrown by the next `settled()`. */
  #deferred: Error | undefined;

  /** Keeps `p` until it settles, without handling its failure (the caller gets `p` back). */
  track<T>(p: Promise<T>): Promise<T> {
    const settled: Promise<unknown> = p.then(
      () => this.#writes.delete(settled),
      () => this.#writes.delete(settled),
    );
    this.#writes.add(settled);
    return p;
  }

  /** Keeps `p`; its failure is thrown by the next `settled()`. */
  defer(p: Promise<unknown>): void {
    void this.track(p).catch((err: unknown) => {
      this.#deferred ??= err as Error;
    });
  }

  /**
   * Keeps `p` for a caller that may not await it (`every().do()`): a failure nobody has
   * awaited by the time it happens is thrown by the next `settled()` instead of becoming an
   * unhandled rejection (which ends a Node process); one somebody awaits goes to them alone.
   */
  trackMaybeUnawaited<T>(p: Promise<T>): Promise<T> {
    const out = this.track(p);
    const then = out.then.bind(out);
    let observed = false;
    void then(undefined, (err: unknown) => {
      if (!observed) this.#deferred ??= err as Error;
    });
    // `await out`, `out.then()`, `out.catch()` and `out.finally()` all go through `then`.
    out.then = ((onFulfilled, onRejected) => {
      observed = true;
      return then(onFulfilled, onRejected);
    }) as typeof out.then;
    return out;
  }

  /** Resolves when every write has settled; then throws a deferred failure, unless told not to. */
  async settled({ rethrow = true } = {}): Promise<void> {
    while (this.#writes.size > 0) await Promise.all([...this.#writes]);
    const err = this.#deferred;
    if (err !== undefined && rethrow) {
      this.#deferred = undefined;
      throw err;
    }
  }
}
