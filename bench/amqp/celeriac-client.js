// The Celeriac publisher/client of `npm run bench:amqp`, in its own process like Celery's
// (celery_client.py). Commands on fd 3 (lib/control.js); see run.js for the protocol.
import { Celeriac } from '@celeriac/client';
import { pino } from 'pino';
import { failStartup, send, serve } from './lib/control.js';

try {
  const cfg = JSON.parse(process.env.BENCH_CONFIG ?? '{}');
  const rpc = cfg.backendUrl.startsWith('rpc:');
  const app = new Celeriac({
    broker: cfg.amqpUrl,
    backend: cfg.backendUrl,
    defaultQueue: cfg.queue,
    logger: pino({ level: 'warn' }),
    // rpc:// keeps results in this process's memory, 10,000 by default: verify() reads back all
    // of a run's results, so it must hold them. Only the size of a Map changes.
    ...(rpc ? { backendOptions: { cacheLimit: Math.max(10_000, cfg.tasks * 2) } } : {}),
  });
  const noop = app.task('bench.noop', () => null);
  await app.broker();
  const backend = await app.resultBackend();
  await app.declareQueue(cfg.queue);
  // The first publish declares the rpc reply queue (and starts reading it); do it before timing.
  await backend.declareReplyQueue?.();
  /** @type {string[]} ids of the tasks published since the last verify */
  let ids = [];
  /** @type {string[]} every task that may have a stored result, for cleanup on a shared Redis */
  const resultIds = [];

  serve(
    {
      /** `n` tasks, `batch` at a time, Promise.all over delay() (what a user would write). */
      publish: async ({ n, batch }) => {
        const t0 = performance.now();
        for (let sent = 0; sent < n; sent += batch) {
          const size = Math.min(batch, n - sent);
          const results = Array.from({ length: size }, () => noop.delay());
          for (const r of results) ids.push(r.id);
          for (const r of results) resultIds.push(r.id);
          await Promise.all(results.map((r) => r.published));
        }
        return { type: 'published', seconds: (performance.now() - t0) / 1000 };
      },
      /** One by one, each awaited until RabbitMQ confirmed it. */
      publishSequential: async ({ n }) => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) await noop.delay().published;
        return { type: 'published', seconds: (performance.now() - t0) / 1000 };
      },
      discard: () => {
        resultIds.splice(resultIds.length - ids.length, ids.length);
        ids = [];
        return { type: 'discarded' };
      },
      resultIds: () => ({ type: 'resultIds', ids: resultIds }),
      roundTrips: async ({ n, warmup, timeoutMs }) => {
        for (let i = 0; i < warmup; i++) {
          const r = noop.delay();
          resultIds.push(r.id);
          await r.get({ timeout: timeoutMs / 1000 });
        }
        const lat = [];
        for (let i = 0; i < n; i++) {
          const t = performance.now();
          const r = noop.delay();
          resultIds.push(r.id);
          await r.get({ timeout: timeoutMs / 1000 });
          lat.push(performance.now() - t);
        }
        return { type: 'roundTrips', latenciesMs: lat };
      },
      /** Every published task has a SUCCESS result null, read back through the backend. */
      verify: async ({ n }) => {
        let success = 0;
        let missing = 0;
        const other = {};
        for (let i = 0; i < ids.length; i += 1000) {
          for (const doc of await backend.getMany(ids.slice(i, i + 1000))) {
            if (doc === null) missing++;
            else if (doc.status === 'SUCCESS' && doc.result === null) success++;
            else other[doc.status] = (other[doc.status] ?? 0) + 1;
          }
        }
        const ok = ids.length === n && success === n;
        const detail = `published=${ids.length} SUCCESS=${success} missing=${missing} other=${JSON.stringify(other)}`;
        ids = [];
        return { type: 'verified', ok, detail };
      },
      close: async () => {
        await app.close();
        send({ type: 'closed' });
        setTimeout(() => process.exit(0), 50);
      },
    },
    () => app.close(),
  );
  send({ type: 'ready', pid: process.pid, replyTo: backend.replyTo });
} catch (err) {
  failStartup(err);
}
