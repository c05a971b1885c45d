/**
 * Delivery guarantees of a worker on Redis, each on a redis-server of its own (short
 * visibility timeouts and restarts must not touch other tests):
 * - a task longer than the visibility timeout runs once while its worker lives;
 * - Redis restarted mid-run (with appendfsync always, so Redis keeps what it acknowledged):
 *   the worker carries on by itself and nothing is lost.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, type TaskContext } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { startRedisServer, uniqueName, type RedisServerHandle } from '@celeriac/testing';
import { Worker } from './index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function server(options: { appendOnly?: boolean } = {}): Promise<RedisServerHandle> {
  const s = await startRedisServer(options);
  cleanups.push(() => s.stop());
  return s;
}

function appOn(url: string, queue: string, brokerOptions: Record<string, unknown> = {}): Celeriac {
  const app = new Celeriac({
    broker: url,
    backend: url,
    logger: silentLogger,
    defaultQueue: queue,
    brokerOptions,
  });
  cleanups.push(() => app.close());
  return app;
}

describe('worker on Redis', () => {
  it('runs a task longer than the visibility timeout once while its worker lives', async () => {
    const redis = await server();
    const queue = uniqueName('vt');
    const runs: string[] = [];
    const define = (app: Celeriac, who: string): void => {
      app.task('tasks.long', async function (this: TaskContext) {
        runs.push(`${who}:${this.id}`);
        await new Promise((r) => setTimeout(r, 4000));
        return who;
      });
    };
    // A 1 s visibility timeout: without refreshing, the second worker would restore and rerun it.
    const opts = { visibilityTimeout: 1, restoreIntervalMs: 250 };
    const a = appOn(redis.url, queue, opts);
    const b = appOn(redis.url, queue, opts);
    define(a, 'a');
    define(b, 'b');
    const wa = new Worker(a, { concurrency: 1, prefetch: 1 });
    await wa.start();
    cleanups.push(() => wa.shutdown({ timeout: 1 }));
    const r = a.sendTask('tasks.long');
    await expect.poll(() => runs.length, { timeout: 5000 }).toBe(1);
    const wb = new Worker(b, { concurrency: 1, prefetch: 1 });
    await wb.start();
    cleanups.push(() => wb.shutdown({ timeout: 1 }));
    expect(await r.get({ timeout: 10 })).toBe('a');
    await new Promise((res) => setTimeout(res, 1500));
    expect(runs).toHaveLength(1);
  });

  it('carries on through a Redis restart without losing a task', async () => {
    const redis = await server({ appendOnly: true });
    const queue = uniqueName('restart');
    const app = appOn(redis.url, queue);
    const seen = new Set<number>();
    const job = app.task('tasks.work', async (n: number) => {
      await new Promise((r) => setTimeout(r, 2));
      seen.add(n);
      return n;
    });
    const worker = new Worker(app, { concurrency: 8 });
    await worker.start();
    cleanups.push(() => worker.shutdown({ timeout: 2 }));
    const total = 1500;
    const results = Array.from({ length: total }, (_, i) => job.delay(i));
    await Promise.all(results.map((r) => r.published));
    await expect
      .poll(() => seen.size, { timeout: 20_000, interval: 10 })
      .toBeGreaterThan(total / 5);
    await redis.restart({ downMs: 500 });
    const values = await Promise.all(results.map((r) => r.get({ timeout: 60 })));
    expect(values).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(seen.size).toBe(total);
    expect(worker.state).toBe('running');
  });
});

describe("delayedDelivery 'auto' on Redis", () => {
  it("holds a countdown task in Redis's delay store while a Celeriac worker consumes its queue, in the queue itself when none does", async () => {
    const redis = await server();
    const queue = uniqueName('auto');
    const client = appOn(redis.url, queue);
    const broker = await client.broker();

    // No Celeriac consumer: the message goes to the queue with its eta header, as Celery's.
    const early = client.sendTask('tasks.add', [1, 2], {}, { countdown: 30 });
    await early.published;
    expect(await broker.countDelayed(queue)).toBe(0);
    expect(await broker.count(queue)).toBe(1);
    expect(await broker.purge(queue)).toBe(1);

    // A worker started: it announced itself before start() resolved, so a client that asks
    // now holds the task in the delay store, and the worker moves and runs it when due.
    const app = appOn(redis.url, queue);
    app.task('tasks.add', (a: number, b: number) => a + b);
    const worker = new Worker(app, { concurrency: 1 });
    await worker.start();
    cleanups.push(() => worker.shutdown({ timeout: 1 }));
    const sender = appOn(redis.url, queue);
    const later = sender.sendTask<number>('tasks.add', [2, 3], {}, { countdown: 1 });
    await later.published;
    expect(await broker.countDelayed(queue)).toBe(1);
    expect(await later.get({ timeout: 15 })).toBe(5);

    // The worker stopped: it withdrew its announcement, so the next client sends to the queue.
    await worker.shutdown({ timeout: 1 });
    const after = appOn(redis.url, queue);
    await after.sendTask('tasks.add', [3, 4], {}, { countdown: 30 }).published;
    expect(await broker.countDelayed(queue)).toBe(0);
    expect(await broker.count(queue)).toBe(1);
  });
});
