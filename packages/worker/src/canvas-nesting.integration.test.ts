/**
 * Nested workflows end to end (Celery's canvas semantics): chains of groups and chords, groups
 * of chains and chords, chord headers holding chains and chords, chord bodies that are chains
 * or groups, callbacks that are workflows, and map / starmap / chunks. On memory (no chords:
 * its backend does not join them), Redis, and RabbitMQ with the Redis backend. Client and
 * worker are separate apps except on memory://, so every step a worker sends goes through the
 * worker's own `sendSignature`.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, expectTypeOf, inject, it } from 'vitest';
import type { AsyncResult, Celeriac } from '@celeriac/client';
import { GroupResult, chain, chord, group, type Task } from '@celeriac/client';
import { rabbitMqForTests, type RabbitMqForTests } from '@celeriac/testing';
import { startCanvasApps } from './canvas-apps.test-helper.js';

let rabbit: RabbitMqForTests;
beforeAll(async () => {
  rabbit = await rabbitMqForTests();
});
afterAll(async () => {
  await rabbit?.release();
});

interface Tasks {
  add: Task<[number, number], number>;
  mul: Task<[number, number], number>;
  double: Task<[number], number>;
  tsum: Task<[number[]], number>;
}

function define(app: Celeriac): Tasks {
  return {
    add: app.task('nest.add', (a: number, b: number) => a + b),
    mul: app.task('nest.mul', (a: number, b: number) => a * b),
    double: app.task('nest.double', (x: number) => 2 * x),
    tsum: app.task('nest.tsum', (xs: number[]) => xs.reduce((s, x) => s + x, 0)),
  };
}

const transports = [
  { name: 'memory', chords: false },
  { name: 'redis', chords: true },
  { name: 'rabbitmq', chords: true },
] as const;

describe.each(transports)('nested canvas on $name', ({ name, chords }) => {
  let client: Celeriac;
  let t: Tasks;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const urls = { redis: inject('redisUrl'), rabbitmq: () => rabbit.url };
    const apps = await startCanvasApps(name, urls, 'nest', define);
    client = apps.client;
    t = apps.tasks;
    closers.push(() => apps.close());
  });
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('a chain inside a chain is spliced in; parents link every step', async () => {
    const r = chain(t.add.s(1, 1), chain(t.add.s(2), t.mul.s(3)), t.add.s(4)).applyAsync();
    expectTypeOf(r).toEqualTypeOf<AsyncResult<number>>();
    expect(await r.get({ timeout: 20 })).toBe(16);
    const values: unknown[] = [];
    for (let n: AsyncResult | undefined = r; n; n = n.parent as AsyncResult | undefined)
      values.push(await n.get({ timeout: 5 }));
    expect(values).toEqual([16, 12, 4, 2]);
  });

  it('a chain ending in a group returns its GroupResult, parent the step before', async () => {
    const r = chain(t.add.s(1, 1), group([t.add.s(10), t.mul.s(10)])).applyAsync();
    expectTypeOf(r).toEqualTypeOf<GroupResult<number>>();
    expect(r).toBeInstanceOf(GroupResult);
    expect(await r.get({ timeout: 20 })).toEqual([12, 20]);
    expect(await (r.parent as AsyncResult).get({ timeout: 5 })).toBe(2);
  });

  it('a group of chains, with a nested group unrolled into it', async () => {
    const g = group([
      chain(t.add.s(1, 1), t.mul.s(2)),
      t.add.s(5, 5),
      group([t.add.s(2, 2), chain(t.add.s(3, 3), t.double.s())]),
    ]).applyAsync();
    expect(g.results).toHaveLength(4);
    expect(await g.get({ timeout: 20 })).toEqual([4, 10, 4, 12]);
  });

  it('a callback that is a chain runs after the task, with its result', async () => {
    const last = randomUUID();
    const cb = chain(t.add.s(1), t.mul.s(2).set({ taskId: last }));
    expect(await t.add.s(1, 1).link(cb).applyAsync().get({ timeout: 20 })).toBe(2);
    expect(await client.asyncResult(last).get({ timeout: 20 })).toBe(6);
  });

  it('map, starmap, chunks (and chunks.group()) give Celery’s results', async () => {
    const m = t.double.map([1, 2, 3]).applyAsync();
    expectTypeOf(m).toEqualTypeOf<AsyncResult<number[]>>();
    expect(await m.get({ timeout: 20 })).toEqual([2, 4, 6]);
    expect(
      await t.add
        .starmap([
          [1, 2],
          [3, 4],
        ])
        .delay()
        .get({ timeout: 20 }),
    ).toEqual([3, 7]);
    const items: [number, number][] = [
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
      [5, 5],
    ];
    const c = t.add.chunks(items, 2).applyAsync();
    expectTypeOf(c).toEqualTypeOf<GroupResult<number[]>>();
    expect(await c.get({ timeout: 20 })).toEqual([[2, 4], [6, 8], [10]]);
    expect(await t.add.chunks(items, 3).group().applyAsync().get({ timeout: 20 })).toEqual([
      [2, 4, 6],
      [8, 10],
    ]);
  });

  it('a map inside a chain feeds the next step', async () => {
    const r = chain(t.double.map([1, 2, 3]), t.tsum.s()).applyAsync();
    expect(await r.get({ timeout: 20 })).toBe(12);
  });

  if (chords) {
    it('chain(a, group(b, c), d): the group and the step after it become a chord', async () => {
      const r = chain(t.add.s(1, 1), group([t.add.s(1), t.mul.s(10)]), t.tsum.s()).applyAsync();
      expect(await r.get({ timeout: 30 })).toBe(23);
      const header = r.parent as GroupResult;
      expect(header).toBeInstanceOf(GroupResult);
      expect(await header.get({ timeout: 5 })).toEqual([3, 20]);
      expect(await (header.parent as AsyncResult).get({ timeout: 5 })).toBe(2);
    });

    it('a chord inside a chain, steps after it continuing its body', async () => {
      const r = chain(
        t.add.s(1, 1),
        chord([t.add.s(1), t.add.s(2)], t.tsum.s()),
        t.mul.s(10),
      ).applyAsync();
      expect(await r.get({ timeout: 30 })).toBe(70);
    });

    it('a group of chords and tasks', async () => {
      const g = group([
        chord([t.add.s(1, 1), t.add.s(2, 2)], t.tsum.s()),
        t.add.s(5, 5),
      ]).applyAsync();
      expect(await g.get({ timeout: 30 })).toEqual([6, 10]);
    });

    it('a chord header holding a chain, a chord and a group', async () => {
      const r = chord(
        [
          chain(t.add.s(1, 1), t.mul.s(10)),
          chord([t.add.s(1, 2), t.add.s(3, 4)], t.tsum.s()),
          group([t.add.s(0, 1), t.add.s(0, 2)]),
        ],
        t.tsum.s(),
      ).applyAsync();
      expect(await r.get({ timeout: 30 })).toBe(20 + 10 + 1 + 2);
      expect(await (r.parent as GroupResult).get({ timeout: 5 })).toEqual([20, 10, 1, 2]);
    });

    it('a chord body that is a chain, and one that is a group', async () => {
      const c = chord([t.add.s(1, 1), t.add.s(2, 2)], chain(t.tsum.s(), t.mul.s(2))).applyAsync();
      expect(await c.get({ timeout: 30 })).toBe(12);
      const g = chord([t.add.s(1, 1), t.add.s(2, 2)], group([t.tsum.s(), t.tsum.s()])).applyAsync();
      expectTypeOf(g).toEqualTypeOf<GroupResult<number>>();
      expect(await g.get({ timeout: 30 })).toEqual([6, 6]);
    });
  }
});
