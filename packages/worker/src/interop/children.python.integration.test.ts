/**
 * `children` across Python and Node: Python Celery's `AsyncResult.children` reads what a
 * Celeriac worker stored (the next chain step, the tasks a task sent, a group a built-in
 * sent), and Node's `AsyncResult.children` reads what a Python worker stored.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AsyncResult, Celeriac, GroupResult, chain } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import {
  requirePythonCelery,
  runPythonScript,
  startCeleryWorker,
  uniqueName,
  type CeleryWorkerHandle,
} from '@celeriac/testing';
import { Worker } from '../index.js';

const redisUrl = inject('redisUrl');
const jsQueue = uniqueName('js-children');
const pyQueue = uniqueName('py-children');
let app: Celeriac;
let worker: Worker;
let py: CeleryWorkerHandle;

interface PyChildren {
  children: { type: string; id: string; results: string[] | null }[];
}

const pyChildren = (id: string): Promise<PyChildren> =>
  runPythonScript<PyChildren>('interop_children.py', [id], { brokerUrl: redisUrl });

beforeAll(async () => {
  requirePythonCelery();
  py = await startCeleryWorker({ brokerUrl: redisUrl, queues: [pyQueue] });
  app = new Celeriac({
    broker: redisUrl,
    backend: redisUrl,
    logger: silentLogger,
    defaultQueue: jsQueue,
    routes: { 'py.*': pyQueue },
  });
  const add = app.task('js.add', (a: number, b: number) => a + b);
  app.task('js.fanout', async (n: number) => {
    const sent = Array.from({ length: n }, (_, i) => add.delay(i, 1));
    await Promise.all(sent.map((r) => r.published));
    return n;
  });
  worker = new Worker(app, { queues: [jsQueue], concurrency: 4 });
  await worker.start();
});

afterAll(async () => {
  await worker?.shutdown({ timeout: 5 });
  await app?.close();
  await py?.stop();
});

describe('children between Python and Celeriac', () => {
  it("Python reads a Celeriac task's children: its chain's next step", async () => {
    const add = app.signature<number>('js.add');
    const r = chain(add.clone([1, 1]), add.clone([2])).applyAsync();
    expect(await r.get({ timeout: 20 })).toBe(4);
    const first = r.parent as AsyncResult;
    expect(await pyChildren(first.id)).toEqual({
      children: [{ type: 'AsyncResult', id: r.id, results: null }],
    });
  });

  it('Python reads the tasks a Celeriac task sent, and the group celery.group sent', async () => {
    const fan = app.sendTask<number>('js.fanout', [3]);
    await fan.get({ timeout: 20 });
    const out = await pyChildren(fan.id);
    expect(out.children).toHaveLength(3);
    expect(out.children.every((c) => c.type === 'AsyncResult')).toBe(true);

    const groupId = uniqueName('gid');
    const ids = [uniqueName('p'), uniqueName('p')];
    const tasks = ids.map((id, i) => app.signature('js.add', [i, i], {}, { taskId: id }).toJSON());
    const tuple = [[groupId, null], ids.map((id) => [[id, null], null])];
    const g = app.sendTask('celery.group', [tasks, tuple, groupId, []]);
    await g.get({ timeout: 20 });
    expect(await pyChildren(g.id)).toEqual({
      children: [{ type: 'GroupResult', id: groupId, results: ids }],
    });
  });

  it("Node reads a Python task's children", async () => {
    const add = app.signature<number>('py.add');
    const r = chain(add.clone([1, 1]), add.clone([2])).applyAsync();
    expect(await r.get({ timeout: 20 })).toBe(4);
    const first = r.parent as AsyncResult;
    await first.get({ timeout: 5 });
    expect(first.children).toHaveLength(1);
    expect(first.children![0]).toBeInstanceOf(AsyncResult);
    expect(first.children![0]!.id).toBe(r.id);
    expect(first.children![0]).not.toBeInstanceOf(GroupResult);
    expect(await (first.children![0] as AsyncResult).get({ timeout: 5 })).toBe(4);
  });
});
