/**
 * A worker on RabbitMQ through a restart of the node (SIGKILL, then started again with the same
 * name, ports and data) in the middle of 5,000 tasks, results in Redis: every task completes,
 * none is lost, and the same worker carries on without being restarted.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { startRabbitMqServer, uniqueName, type RabbitMqServerHandle } from '@celeriac/testing';
import { Worker } from './index.js';

// A node of this file's own: it is killed mid-test.
let rabbit: RabbitMqServerHandle;
beforeAll(async () => {
  rabbit = await startRabbitMqServer();
});
afterAll(async () => {
  await rabbit?.stop();
});

describe('worker on RabbitMQ across a node restart', () => {
  it('completes every one of 5,000 tasks, with the same worker throughout', async () => {
    const queue = uniqueName('amqp-restart');
    const options = {
      broker: rabbit.url,
      backend: inject('redisUrl'),
      logger: silentLogger,
      defaultQueue: queue,
      brokerOptions: { connectTimeoutMs: 60_000, reconnectMaxDelayMs: 500 },
    };
    const client = new Celeriac(options);
    const workerApp = new Celeriac(options);
    const define = (app: Celeriac) =>
      app.task('restart.work', async (n: number) => {
        await sleep(1);
        return n * 2;
      });
    const work = define(client);
    define(workerApp); // the same task, as a separate worker process would define it
    const worker = new Worker(workerApp, { concurrency: 20 });
    await worker.start();
    try {
      const total = 5000;
      const results: ReturnType<typeof work.delay>[] = [];
      // Published in paced batches while the worker runs, so the restart hits both directions.
      const publishing = (async () => {
        for (let i = 0; i < total; i += 100) {
          const batch = Array.from({ length: Math.min(100, total - i) }, (_, k) =>
            work.delay(i + k),
          );
          results.push(...batch);
          await Promise.all(batch.map((r) => r.published));
          await sleep(20);
        }
      })();
      await expect
        .poll(() => worker.processed, { timeout: 60_000, interval: 20 })
        .toBeGreaterThan(total / 4);
      await rabbit.restart({ hard: true });
      await publishing;
      expect(results).toHaveLength(total);
      const values = await Promise.all(results.map((r) => r.get({ timeout: 120 })));
      expect(values).toEqual(Array.from({ length: total }, (_, i) => i * 2));
      // The worker noticed nothing it could not recover from: it never stopped.
      expect(worker.state).toBe('running');
      console.log(
        `amqp restart test: ${total} tasks completed, ${worker.processed - total} runs beyond one per task (at least once)`,
      );
    } finally {
      await worker.shutdown({ timeout: 5 });
      await workerApp.close();
      await client.close();
    }
  }, 240_000);
});
