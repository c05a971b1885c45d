/**
 * The Node canvas with real Python Celery: a group built and saved in Node is a `GroupResult`
 * Python restores and waits for; a Node chain and chord whose steps mix Celeriac and Python
 * tasks complete with the right value. Nesting both ways: Python's `a | group(b, c)` and
 * `a | chord([b, c], d)` whose `a` a Celeriac worker runs (it sends the rest from Celery's
 * dicts), and Node-built nested workflows whose steps Python workers run and send on.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { GroupResult } from '@celeriac/client';
import {
  Celeriac,
  GroupResult as GroupResultClass,
  XMap,
  chain,
  chord,
  group,
} from '@celeriac/client';
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
    const r = chord(header, app.signature('py.tsum', [], {}, { queue: pyQueue })).applyAsync();
    expect(await r.get({ timeout: 30 })).toBe(30);
    const restored = r.parent as GroupResult;
    expect(await restored.get({ timeout: 5 })).toEqual([0, 2, 4, 6, 8, 10]);
  });

  describe.each([
    { name: 'chain_group', expected: [12, 22] },
    { name: 'chain_chord', expected: 34 },
    { name: 'chain_chord_js', expected: 34 },
    { name: 'group_then_task', expected: 7 },
    { name: 'chord_chain_body', expected: 107 },
  ])('Python-built $name, first step on the Celeriac worker', ({ name, expected }) => {
    it('returns the right value to Python', async () => {
      const out = await runPythonScript<{ result: unknown }>(
        'interop_nesting.py',
        [name, '--js-queue', jsQueue, '--py-queue', pyQueue],
        { brokerUrl: redisUrl },
      );
      expect(out.result).toEqual(expected);
    });
  });

  const py = (name: string, ...args: unknown[]) =>
    app.signature<number>(name, args, {}, { queue: pyQueue });

  it('a Node chain(x, group(y, z), w) run by Python workers returns w’s value', async () => {
    const r = chain(py('py.add', 1, 1), group([py('py.add', 10), py('py.add', 20)]), py('py.tsum'));
    expect(r.toJSON().kwargs['tasks']).toMatchObject([
      { task: 'py.add' },
      { subtask_type: 'chord' },
    ]);
    const result = r.applyAsync();
    expect(await result.get({ timeout: 30 })).toBe(34);
    expect(await (result.parent as GroupResult).get({ timeout: 5 })).toEqual([12, 22]);
  });

  it('a Node chain ending in a group, steps in Python and Celeriac', async () => {
    const r = chain(
      py('py.add', 1, 1),
      group([py('py.add', 1), app.signature<number>('js.add', [2])]),
    );
    const g = r.applyAsync();
    expect(g).toBeInstanceOf(GroupResultClass);
    expect(await g.get({ timeout: 30 })).toEqual([3, 4]);
  });

  it('a Node chord whose header holds a Python chain and a Python chord', async () => {
    const r = chord(
      [
        chain(py('py.add', 1, 1), py('py.add', 10)),
        chord([py('py.add', 1, 2), py('py.add', 3, 4)], py('py.tsum')),
        py('py.add', 2, 2),
      ],
      chain(py('py.tsum'), app.signature<number>('js.add', [100])),
    ).applyAsync();
    expect(await r.get({ timeout: 30 })).toBe(12 + 10 + 4 + 100);
  });

  it('a Node group of chains run by Python', async () => {
    const g = group([
      chain(py('py.add', 1, 1), py('py.add', 1)),
      chain(py('py.add', 2, 2), app.signature<number>('js.add', [2]), py('py.add', 2)),
    ]).applyAsync();
    expect(await g.get({ timeout: 30 })).toEqual([3, 8]);
  });

  it('a Node-built starmap run by Python’s celery.starmap', async () => {
    const m = new XMap<number[]>(app, 'xstarmap', py('py.add'), [
      [1, 2],
      [3, 4],
    ]);
    expect(await m.applyAsync().get({ timeout: 30 })).toEqual([3, 7]);
  });
});
