// BullMQ on the publishing side of the bench. Every run gets its own queue (and, on a shared
// Redis, its own key prefix), and deletes exactly its own keys afterwards.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Queue, QueueEvents } from 'bullmq';
import { deleteMatching } from '../lib/redis-stats.js';
import { redisOptionsFromUrl } from '../lib/redis-url.js';

const require = createRequire(import.meta.url);
const JOB_NAME = 'bench.noop';

export const bullmq = {
  id: 'bullmq',
  label: 'BullMQ',
  version: JSON.parse(readFileSync(require.resolve('bullmq/package.json'), 'utf8')).version,
  workerScript: new URL('../workers/bullmq-worker.js', import.meta.url),

  /**
   * @param {{ url: string, token: string, shared: boolean, concurrency: number }} ctx
   */
  async open(ctx) {
    const queueName = `bench-${ctx.token}`;
    const prefix = ctx.shared ? `bench-${ctx.token}` : 'bull';
    const connection = redisOptionsFromUrl(ctx.url);
    const queue = new Queue(queueName, { connection, prefix });
    queue.on('error', (err) => console.error('bullmq queue error:', err));
    await queue.waitUntilReady();
    /** @type {QueueEvents | undefined} */
    let events;

    return {
      workerConfig: { url: ctx.url, queue: queueName, prefix, concurrency: ctx.concurrency },

      /** `n` jobs, `batch` at a time with Promise.all over queue.add (what a user would write). */
      async publishConcurrent(n, batch) {
        for (let sent = 0; sent < n; sent += batch) {
          const size = Math.min(batch, n - sent);
          await Promise.all(Array.from({ length: size }, () => queue.add(JOB_NAME, {})));
        }
      },

      /** `n` jobs, `batch` per addBulk call (BullMQ's bulk API; one MULTI per batch). */
      async publishBulk(n, batch) {
        for (let sent = 0; sent < n; sent += batch) {
          const size = Math.min(batch, n - sent);
          await queue.addBulk(Array.from({ length: size }, () => ({ name: JOB_NAME, data: {} })));
        }
      },

      async publishSequential(n) {
        for (let i = 0; i < n; i++) await queue.add(JOB_NAME, {});
      },

      async prepareRoundTrip() {
        events = new QueueEvents(queueName, { connection, prefix });
        events.on('error', (err) => console.error('bullmq queue events error:', err));
        await events.waitUntilReady();
      },

      /** Publish, then wait for the worker's result (job.waitUntilFinished over QueueEvents). */
      async roundTrip(timeoutMs) {
        const job = await queue.add(JOB_NAME, {});
        return job.waitUntilFinished(/** @type {QueueEvents} */ (events), timeoutMs);
      },

      /** Every job completed, none failed, the return value (null) stored on the job. */
      async verify(n) {
        const counts = await queue.getJobCounts('completed', 'failed', 'wait', 'active', 'delayed');
        const [sample] = await queue.getJobs(['completed'], 0, 0);
        const ok = counts.completed === n && counts.failed === 0 && sample?.returnvalue === null;
        return {
          ok,
          detail: `completed=${counts.completed} failed=${counts.failed} wait=${counts.wait} active=${counts.active} returnvalue=${JSON.stringify(sample?.returnvalue)}`,
        };
      },

      async close() {
        await events?.close();
        await queue.close();
      },

      /** Deletes this run's keys: everything under `<prefix>:<queue>:`. */
      async cleanup(admin) {
        return deleteMatching(admin, `${prefix}:${queueName}:*`);
      },
    };
  },
};
