/**
 * The Node canvas with real Python Celery: a group built and saved in Node is a `GroupResult`
 * Python restores and waits for; a Node chain and chord whose steps mix Celeriac and Python
 * tasks complete with the right value.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { GroupResult } from '@celeriac/client';
import { Celeriac, chain, chord, group } from '@celeriac/client';
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
const jsQueue = uniqueName('js');
const pyQueue = uniqueName('py');
let app: Celeriac;
let worker: Worker;
let py: CeleryWorkerHandle;

beforeAll(async () => {
  requirePythonCelery();
  py = await startCeleryWorker({ brokerUrl: redisUrl, queues: [pyQueue] });
  app = new Celeriac({
    broker: redisUrl,
    backend: redisUrl,
    logger: silentLogger,
    defaultQueue: jsQueue,
  });
  app.task('js.add', (a: number, b: number) => a + b);
  app.task('js.tsum', (xs: number[]) => xs.reduce((s, x) => s + x, 0));
  worker = new Worker(app, { queues: [jsQueue], concurrency: 4 });
  await worker.start();
});

afterAll(async () => {
  await worker?.shutdown({ timeout: 5 });
  await app?.close();
  await py?.stop();
});

describe('Node canvas ↔ Python Celery', () => {
  it('a group built and saved in Node is a GroupResult in Python', async () => {
    const add = app.signature('js.add');
    const g = group([add.clone([1, 2]), add.clone([3, 4]), add.clone([5, 6])]).applyAsync();
    await g.save();
    const out = await runPythonScript<{
      restored: boolean;
      ids: string[];
      values: number[];
      completed: number;
    }>('interop_group.py', [g.id], { brokerUrl: redisUrl });
    expect(out).toEqual({
      restored: true,
      id: g.id,
      ids: g.results.map((r) => r.id),
      values: [3, 7, 11],
      completed: 3,
    });
  });

  it('a Node chain Celeriac → Python → Celeriac returns the final value', async () => {
    const r = chain(
      app.signature('js.add', [1, 2]),
      app.signature('py.add', [10], {}, { queue: pyQueue }),
      app.signature('js.add', [100]),
    ).applyAsync();
    expect(await r.get({ timeout: 30 })).toBe(113);
  });

  it('a Node chord whose header mixes Python and Celeriac tasks, body in Python', async () => {
    const header = Array.from({ length: 6 }, (_, i) =>
      i % 2 === 0
        ? app.signature('js.add', [i, i])
        : app.signature('py.add', [i, i], {}, { queue: pyQueue }),
    );
    const r = chord(
      header,
      app.signature('py.tsum', [], {}, { queue: pyQueue }),
    ).applyAsync();
    expect(await r.get({ timeout: 30 })).toBe(30);
    const restored = r.parent as GroupResult;
    expect(await restored.get({ timeout: 5 })).toEqual([0, 2, 4, 6, 8, 10]);
  });
});
