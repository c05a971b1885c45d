/**
 * Revocation, uniqueness and rate limits through the shared coordination store on Redis.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { Celeriac, type TaskContext, type TaskError } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { Worker } from './index.js';

const redisUrl = inject('redisUrl');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

function app(queue: string): Celeriac {
  const a = new Celeriac({
    broker: redisUrl,
    backend: redisUrl,
    logger: silentLogger,
    defaultQueue: queue,
  });
  cleanups.push(() => a.close());
  return a;
}

async function worker(
  a: Celeriac,
  options: ConstructorParameters<typeof Worker>[1] = {},
): Promise<Worker> {
  const w = new Worker(a, { concurrency: 4, ...options });
  await w.start();
  cleanups.push(() => w.shutdown({ timeout: 2 }));
  return w;
}

describe('revocation on Redis', () => {
  it('a worker that starts after the revocation never starts the task, and stores REVOKED', async () => {
    const queue = uniqueName('rev');
    const client = app(queue);
    let ran = 0;
    const job = client.task('tasks.revocable', () => ++ran);
    const r = job.delay();
    await r.published;
    await r.revoke();
    const keeper = job.delay(); // not revoked: shows the worker does run the queue
    const w = app(queue);
    w.task('tasks.revocable', () => ++ran);
    await worker(w);
    const err = await r.get({ timeout: 10 }).catch((e: unknown) => e);
    expect((err as TaskError).type).toBe('TaskRevokedError');
    expect(await keeper.get({ timeout: 10 })).toBe(1);
    expect(ran).toBe(1);
  });

  it('terminate stops a running task: its signal aborts and REVOKED is stored', async () => {
    const queue = uniqueName('rev');
    const a = app(queue);
    let aborted = false;
    const job = a.task('tasks.forever', function (this: TaskContext) {
      return new Promise<void>((resolve) => {
        this.signal.addEventListener('abort', () => {
          aborted = true;
          resolve();
        });
      });
    });
    const quick = a.task('tasks.quick', () => 'ok');
    await worker(a, { concurrency: 1 });
    const r = job.delay();
    await expect.poll(async () => (await r.state()) === 'PENDING' && aborted === false).toBe(true);
    await new Promise((res) => setTimeout(res, 200));
    await a.control.revoke(r.id, { terminate: true });
    const err = await r.get({ timeout: 10 }).catch((e: unknown) => e);
    expect((err as TaskError).type).toBe('TaskRevokedError');
    expect(aborted).toBe(true);
    expect(await quick.delay().get({ timeout: 10 })).toBe('ok'); // the slot was freed
  });
});

describe('uniqueness on Redis', () => {
  it('a unique task published 100 times concurrently runs once; every result follows it', async () => {
    const queue = uniqueName('uniq');
    const a = app(queue);
    let runs = 0;
    const job = a.task('tasks.report', (tenant: string) => `${tenant}:${++runs}`, {
      unique: { ttl: 30 },
    });
    await worker(a);
    const results = Array.from({ length: 100 }, () => job.delay('acme'));
    await Promise.all(results.map((r) => r.published));
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    const values = await Promise.all(results.map((r) => r.get({ timeout: 10 })));
    expect(new Set(values)).toEqual(new Set(['acme:1']));
    await new Promise((res) => setTimeout(res, 300));
    expect(runs).toBe(1);
    // Another key is its own task.
    expect(await job.delay('globex').get({ timeout: 10 })).toBe('globex:2');
  });
});
