// The client side of the bench workloads for Celeriac, whatever its broker: what a user writes
// (`delay()`, `await r.published`, `get()`), so the Redis and SQLite systems time the same code.

/**
 * @param {{ delay: () => { id: string, published: Promise<void>, get: (o: { timeout: number }) => Promise<unknown> } }} noop
 *   the bench's no-op task
 * @param {string[]} ids where the ids of every published task go, for the verify step
 */
export function celeriacClientWorkloads(noop, ids) {
  return {
    /** `n` tasks, `batch` at a time with Promise.all over delay(). */
    async publishConcurrent(n, batch) {
      for (let sent = 0; sent < n; sent += batch) {
        const size = Math.min(batch, n - sent);
        const results = Array.from({ length: size }, () => noop.delay());
        for (const r of results) ids.push(r.id);
        await Promise.all(results.map((r) => r.published));
      }
    },

    async publishSequential(n) {
      for (let i = 0; i < n; i++) await noop.delay().published;
    },

    async prepareRoundTrip() {},

    /** Publish, then wait for the result (AsyncResult.get, woken by the backend's push). */
    async roundTrip(timeoutMs) {
      return noop.delay().get({ timeout: timeoutMs / 1000 });
    },
  };
}
