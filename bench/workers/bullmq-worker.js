// A BullMQ worker process for the bench: one no-op processor, concurrency 50, the return value
// stored on the completed job (BullMQ's default removeOnComplete: false). Started by
// bench/run.js with child_process.fork.
import { Worker } from 'bullmq';
import { redisOptionsFromUrl } from '../lib/redis-url.js';
import { failStartup, serveWorker, workerConfig } from './child.js';

try {
  const cfg = workerConfig();
  let completed = 0;
  const worker = new Worker(cfg.queue, async () => null, {
    connection: { ...redisOptionsFromUrl(cfg.url), maxRetriesPerRequest: null },
    prefix: cfg.prefix,
    concurrency: cfg.concurrency,
    autorun: false,
  });
  // 'completed' is emitted after moveToCompleted stored the return value.
  worker.on('completed', () => {
    completed++;
  });
  worker.on('error', (err) => console.error('bullmq worker error:', err));
  await worker.waitUntilReady();
  serveWorker({
    start: async () => {
      worker.run().catch((err) => console.error('bullmq worker.run failed:', err));
    },
    processed: () => completed,
    stop: () => worker.close(),
  });
} catch (err) {
  failStartup(err);
}
