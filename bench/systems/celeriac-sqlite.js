// Celeriac on one SQLite file (sqlite://), for the rows beside Redis. Every run gets a file of
// its own in the OS temp folder, removed afterwards. The queue, the results and the worker's
// coordination all live in that file (the defaults for a sqlite:// broker), so every task
// stores its result, as on Redis, and W4 waits for it through the SQLite result backend.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Celeriac } from '@celeriac/client';
import { pino } from 'pino';
import { celeriacClientWorkloads } from '../lib/celeriac-client.js';

export const celeriacSqlite = {
  id: 'celeriac-sqlite',
  label: 'Celeriac (SQLite)',
  version: '0.1.0 (this tree)',
  workerScript: new URL('../workers/celeriac-worker.js', import.meta.url),
  transport: 'sqlite',
  workloads: ['W1', 'W2', 'W3', 'W4'],
  results: 'every task stores its result in the same file (the SQLite result backend)',

  /** @param {{ token: string, concurrency: number, prefetch?: number }} ctx */
  async open(ctx) {
    const dir = mkdtempSync(join(tmpdir(), `celeriac-bench-${ctx.token}-`));
    const url = `sqlite://${join(dir, 'celeriac.db')}`;
    const queue = `bench-${ctx.token}`;
    const app = new Celeriac({
      broker: url,
      defaultQueue: queue,
      logger: pino({ level: 'warn' }),
    });
    const noop = app.task('bench.noop', () => null);
    const broker = await app.broker();
    await app.declareQueue(queue);
    let ids = [];

    return {
      workerConfig: {
        url,
        queue,
        concurrency: ctx.concurrency,
        ...(ctx.prefetch ? { prefetch: ctx.prefetch } : {}),
      },

      ...celeriacClientWorkloads(noop, ids),

      /**
       * Nothing is left in the queue, ready or held, and every published task has a SUCCESS
       * document with result null in the file.
       */
      async verify(n) {
        const ready = await broker.count(queue);
        const reserved = await broker.countReserved(queue);
        const backend = await app.resultBackend();
        let success = 0;
        let missing = 0;
        for (let i = 0; i < ids.length; i += 1000) {
          for (const doc of await backend.getMany(ids.slice(i, i + 1000))) {
            if (doc === null) missing++;
            else if (doc.status === 'SUCCESS' && doc.result === null) success++;
          }
        }
        const ok = ids.length === n && success === n && ready === 0 && reserved === 0;
        ids = [];
        return {
          ok,
          detail: `published=${n} SUCCESS=${success} missing=${missing} left ready=${ready} held=${reserved}`,
        };
      },

      close: () => app.close(),

      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
        return 0;
      },
    };
  },
};
