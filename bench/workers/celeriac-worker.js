// A Celeriac worker process for the bench: one no-op task, concurrency 50, results stored in
// the Redis result backend (or none, with `backend: false`, on SQLite). Started by bench/run.js with child_process.fork.
import { Celeriac } from '@celeriac/client';
import { Worker } from '@celeriac/worker';
import { pino } from 'pino';
import { failStartup, serveWorker, workerConfig } from './child.js';

try {
  const cfg = workerConfig();
  const app = new Celeriac({
    broker: cfg.url,
    backend: cfg.backend ?? cfg.url,
    defaultQueue: cfg.queue,
    logger: pino({ level: 'warn' }),
    ...(cfg.resultKeyPrefix ? { backendOptions: { keyPrefix: cfg.resultKeyPrefix } } : {}),
  });
  // Same as the BullMQ processor: no work, and null is the stored result.
  app.task('bench.noop', () => null);
  const worker = new Worker(app, {
    concurrency: cfg.concurrency,
    queues: [cfg.queue],
    ...(cfg.prefetch ? { prefetch: cfg.prefetch } : {}),
    events: cfg.events === true,
  });
  // Connect before saying "ready", so the drain workload times consuming, not connecting.
  await app.broker();
  if (cfg.backend !== false) await app.resultBackend();
  await app.declareQueue(cfg.queue);
  serveWorker({
    start: () => worker.start(),
    processed: () => worker.processed,
    stop: async () => {
      await worker.shutdown({ timeout: 5 });
      await app.close();
    },
  });
} catch (err) {
  failStartup(err);
}
