import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Celeriac, TaskError } from '@celeriac/client';
import {
  createTaskMessage,
  encodeTaskMessage,
  normalizeSignature,
  silentLogger,
} from '@celeriac/core';
import { Worker } from '../index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ app: Celeriac; worker: Worker }> {
  const app = new Celeriac({
    broker: `memory://b-${Math.random().toString(36).slice(2)}`,
    logger: silentLogger,
  });
  app.task('tasks.add', (a: number, b: number) => a + b);
  app.task('tasks.double', async (x: number) => Promise.resolve(x * 2));
  const worker = new Worker(app, { concurrency: 2 });
  cleanups.push(async () => {
    await worker.shutdown({ timeout: 1 });
    await app.close();
  });
  await worker.start();
  return { app, worker };
}

/** What Python's `add.s()` sends as the `task` of a built-in. */
const sig = (task: string): ReturnType<typeof normalizeSignature> =>
  normalizeSignature({ task, options: { reply_to: 'py-client' }, subtask_type: null });

describe("Celery's built-in tasks on a Celeriac worker (memory://)", () => {
  it('celery.map calls the named task once per item, in order', async () => {
    const { app } = await setup();
    const r = app.sendTask('celery.map', [], { task: sig('tasks.double'), it: [1, 2, 3] });
    expect(await r.get({ timeout: 5 })).toEqual([2, 4, 6]);
  });

  it('celery.starmap spreads each item as the arguments', async () => {
    const { app } = await setup();
    const r = app.sendTask('celery.starmap', [], {
      task: sig('tasks.add'),
      it: [
        [1, 2],
        [3, 4],
      ],
    });
    expect(await r.get({ timeout: 5 })).toEqual([3, 7]);
  });

  it('celery.chunks sends a group of starmaps and returns the group as Celery tuples', async () => {
    const { app } = await setup();
    const it10 = Array.from({ length: 10 }, (_, i) => [i, i]);
    const r = app.sendTask<[[string, null], [[string, null], null][]]>('celery.chunks', [], {
      task: sig('tasks.add'),
      it: it10,
      n: 3,
    });
    const [[groupId, parent], parts] = await r.get({ timeout: 5 });
    expect(typeof groupId).toBe('string');
    expect(parent).toBeNull();
    expect(parts).toHaveLength(4);
    const values = await Promise.all(
      parts.map(([[id]]) => app.asyncResult(id).get({ timeout: 5 })),
    );
    expect(values).toEqual([[0, 2, 4], [6, 8, 10], [12, 14, 16], [18]]);
  });

  it('fails with NotRegistered when the named task is not in this worker', async () => {
    const { app } = await setup();
    const r = app.sendTask('celery.map', [], { task: sig('tasks.nowhere'), it: [1] });
    const err = (await r.get({ timeout: 5 }).catch((e: unknown) => e)) as TaskError;
    expect(err).toBeInstanceOf(TaskError);
    expect(err.type).toBe('NotRegistered');
    expect(err.remoteMessage).toBe('tasks.nowhere');
  });

  it('a task the app defines under a built-in name wins', async () => {
    const { app } = await setup();
    app.task('celery.map', () => 'mine');
    const broker = await app.broker();
    const r = app.asyncResult('own-map-' + Math.random());
    await broker.publish(
      'celery',
      encodeTaskMessage(createTaskMessage({ name: 'celery.map', id: r.id, kwargs: {} })),
    );
    expect(await r.get({ timeout: 5 })).toBe('mine');
  });

  it('are not listed as the app tasks (Celery leaves celery.* out of `registered`)', async () => {
    const { app } = await setup();
    expect([...app.tasks.keys()].filter((n) => n.startsWith('celery.'))).toEqual([]);
  });
});

describe('built-in tasks in a threads pool', () => {
  it('celery.map runs where the app module registered the named task', async () => {
    const fixture = fileURLToPath(new URL('../../test-fixtures/builtins-app.js', import.meta.url));
    const fx = (await import(fixture)) as { app: Celeriac };
    const worker = new Worker(fx.app, { pool: 'threads', appModule: fixture, concurrency: 1 });
    cleanups.push(() => worker.shutdown({ timeout: 1 }));
    await worker.start();
    const r = fx.app.sendTask('celery.map', [], { task: sig('fx.double'), it: [5, 6] });
    expect(await r.get({ timeout: 10 })).toEqual([10, 12]);
  });
});
