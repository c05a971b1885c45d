// Celeriac on one SQLite file (sqlite://), for the rows beside Redis. Every run gets a file of
// its own in the OS temp folder, removed afterwards. No result backend on SQLite yet in this
// tree: tasks run with `backend: false`, and "done" is the worker's processed count (the task
// ran and its message was acked); W4 (round trips) needs results and is not run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Celeriac } from '@celeriac/client';
import { pino } from 'pino';

export const celeriacSqlite = {
  id: 'celeriac-sqlite',
  label: 'Celeriac (SQLite)',
  version: '0.1.0 (this tree)',
  workerScript: new URL('../workers/celeriac-worker.js', import.meta.url),
  /** Workloads this system runs; the others need a result backend. */
  transport: 'sqlite',
  workloads: ['W1', 'W2', 'W3'],
  results: 'none (backend: false; no SQLite result backend in this tree)',

  /** @param {{ token: string, concurrency: number, prefetch?: number }} ctx */
  async open(ctx) {
    const dir = mkdtempSync(join(tmpdir(), `celeriac-bench-${ctx.token}-`));
    const url = `sqlite://${join(dir, 'celeriac.db')}`;
    const queue = `bench-${ctx.token}`;
    const app = new Celeriac({
      broker: url,
      backend: false,
      defaultQueue: queue,
      logger: pino({ level: 'warn' }),
    });
    const noop = app.task('bench.noop', () => null);
    const broker = await app.broker();
    await app.declareQueue(queue);
    let published = 0;

    return {
      workerConfig: {
        url,
        backend: false,
        queue,
        concurrency: ctx.concurrency,
        ...(ctx.prefetch ? { prefetch: ctx.prefetch } : {}),
      },

      async publishConcurrent(n, batch) {
        for (let sent = 0; sent < n; sent += batch) {
          const size = Math.min(batch, n - sent);
          const results = Array.from({ length: size }, () => noop.delay());
          published += size;
          await Promise.all(results.map((r) => r.published));
        }
      },

      async publishSequential(n) {
        for (let i = 0; i < n; i++) await noop.delay().published;
        published += n;
      },

      async prepareRoundTrip() {
        throw new Error('W4 needs a result backend: not run on SQLite');
      },

      async roundTrip() {
        throw new Error('W4 needs a result backend: not run on SQLite');
      },

      /** Nothing is left in the queue, ready or held, once the worker reached its count. */
      async verify(n) {
        const ready = await broker.count(queue);
        const reserved = await broker.countReserved(queue);
        const ok = published === n && ready === 0 && reserved === 0;
        published = 0;
        return { ok, detail: `published=${n} left ready=${ready} held=${reserved}` };
      },

      close: () => app.close(),

      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
        return 0;
      },
    };
  },
};
