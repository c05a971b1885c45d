/**
 * A Celeriac app and worker on RabbitMQ, with the rpc:// result backend and with the Redis
 * backend: results, failures, countdown and retry end to end through a node of the test's own.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac, TaskError, type TaskContext } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { rabbitMqForTests, uniqueName, type RabbitMqForTests } from '@celeriac/testing';
import { Worker } from './index.js';

let rabbit: RabbitMqForTests;
beforeAll(async () => {
  rabbit = await rabbitMqForTests();
});
afterAll(async () => {
  await rabbit?.release();
});

describe.each(['rpc', 'redis'] as const)(
  'worker on RabbitMQ with the %s result backend',
  (kind) => {
    let client: Celeriac;
    let workerApp: Celeriac;
    let worker: Worker;
    const queue = uniqueName('amqp');

    beforeAll(async () => {
      const backend = kind === 'rpc' ? 'rpc://' : inject('redisUrl');
      const define = (app: Celeriac): void => {
        app.task('amqp.add', (a: number, b: number) => a + b);
        app.task('amqp.fail', (m: string) => {
          const err = new Error(m);
          err.name = 'ValueError';
          throw err;
        });
        app.task('amqp.flaky', function (this: TaskContext) {
          if (this.retries === 0) this.retry({ countdown: 1 });
          return this.retries;
        });
      };
      // Client and worker are separate apps, as separate processes would be: with rpc:// the
      // result must travel to the client's own reply queue.
      client = new Celeriac({
        broker: rabbit.url,
        backend,
        logger: silentLogger,
        defaultQueue: queue,
      });
      workerApp = new Celeriac({
        broker: rabbit.url,
        backend,
        logger: silentLogger,
        defaultQueue: queue,
      });
      define(client);
      define(workerApp);
      worker = new Worker(workerApp, { concurrency: 4 });
      await worker.start();
    });

    afterAll(async () => {
      await worker?.shutdown({ timeout: 5 });
      await workerApp?.close();
      await client?.close();
    });

    it('returns results to the client', async () => {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          client.sendTask<number>('amqp.add', [i, 1]).get({ timeout: 20 }),
        ),
      );
      expect(results).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    });

    it('rejects with the task error', async () => {
      const err = await client
        .sendTask('amqp.fail', ['nope'])
        .get({ timeout: 20 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskError);
      expect((err as TaskError).type).toBe('ValueError');
      expect((err as TaskError).remoteMessage).toBe('nope');
    });

    it('runs a countdown task after its delay, through the broker delay topology', async () => {
      const t0 = Date.now();
      expect(
        await client.sendTask('amqp.add', [20, 22], {}, { countdown: 1.5 }).get({ timeout: 20 }),
      ).toBe(42);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    });

    it('retries through the broker and then succeeds', async () => {
      expect(await client.sendTask('amqp.flaky').get({ timeout: 20 })).toBe(1);
    });
  },
);
