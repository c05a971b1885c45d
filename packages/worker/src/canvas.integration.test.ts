/**
 * The Node canvas end to end: signatures, chain, group (GroupResult), chord, link and
 * link_error, on the memory broker, on Redis, and on RabbitMQ (with the Redis backend, which
 * joins chords). Client and worker are separate apps except on memory://.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Signature } from '@celeriac/client';
import {
  Celeriac,
  ErrorCodes,
  GroupResult,
  TaskError,
  chain,
  chord,
  group,
  type Task,
} from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
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
  tsum: Task<[number[]], number>;
  fail: Task<[string], never>;
  record: Task<unknown[], string>;
}

const recorded = new Map<string, unknown[][]>();

function define(app: Celeriac, tag: string): Tasks {
  return {
    add: app.task('canvas.add', (a: number, b: number) => a + b),
    mul: app.task('canvas.mul', (a: number, b: number) => a * b),
    tsum: app.task('canvas.tsum', (xs: number[]) => xs.reduce((s, x) => s + x, 0)),
    fail: app.task('canvas.fail', (m: string): never => {
      const err = new Error(m);
      err.name = 'ValueError';
      throw err;
    }),
    record: app.task('canvas.record', (...args: unknown[]) => {
      const key = `${tag}:${String(args[args.length - 1])}`;
      recorded.set(key, [...(recorded.get(key) ?? []), args]);
      return key;
    }),
  };
}

/** Waits until `key` was recorded `n` times, then a little longer to see no extra run. */
async function recordedTimes(key: string, probe: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 400 && !recorded.has(key); i++) await new Promise((r) => setTimeout(r, 25));
  await probe(); // a task sent after the errback that runs once the worker got past it
  return recorded.get(key)?.length ?? 0;
}

const transports = [
  { name: 'memory', chords: false },
  { name: 'redis', chords: true },
  { name: 'rabbitmq', chords: true },
] as const;

describe.each(transports)('canvas on $name', ({ name, chords }) => {
  let client: Celeriac;
  let t: Tasks;
  let tag: string;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const urls = { redis: inject('redisUrl'), rabbitmq: () => rabbit.url };
    const apps = await startCanvasApps(name, urls, 'canvas', define);
    client = apps.client;
    t = apps.tasks;
    tag = apps.tag;
    closers.push(() => apps.close());
  });
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('chain: each step gets the previous result; parent links the steps', async () => {
    const r = chain(t.add.s(2, 2), t.add.s(4), t.mul.s(10), t.add.si(1, 1)).applyAsync();
    expect(await r.get({ timeout: 20 })).toBe(2);
    const third = r.parent as typeof r;
    expect(await third.get({ timeout: 5 })).toBe(80);
    const second = third.parent as typeof r;
    expect(await second.get({ timeout: 5 })).toBe(8);
    const first = second.parent as typeof r;
    expect(await first.get({ timeout: 5 })).toBe(4);
    expect(first.parent).toBeUndefined();
  });

  it('chain: a failing step stops the chain and its result rejects', async () => {
    const r = chain(t.add.s(1, 1), t.fail.si('boom'), t.add.s(1)).applyAsync();
    const failing = r.parent as typeof r;
    await expect(failing.get({ timeout: 20 })).rejects.toMatchObject({ type: 'ValueError' });
    expect(await r.state()).toBe('PENDING');
  });

  it('group: values in group order; ready, completedCount, failed', async () => {
    const g = group([t.add.s(1, 1), t.mul.s(3, 3), t.add.s(10, 5)]).applyAsync();
    expect(g).toBeInstanceOf(GroupResult);
    expect(await g.get({ timeout: 20 })).toEqual([2, 9, 15]);
    expect(await g.ready()).toBe(true);
    expect(await g.completedCount()).toBe(3);
    expect(await g.successful()).toBe(true);

    const bad = group([t.add.s(1, 1), t.fail.s('nope')]).applyAsync();
    await expect(bad.get({ timeout: 20 })).rejects.toBeInstanceOf(TaskError);
    const values = await bad.get({ timeout: 20, propagate: false });
    expect(values[0]).toBe(2);
    expect(values[1]).toBeInstanceOf(TaskError);
    expect(await bad.completedCount()).toBe(1);
    expect(await bad.failed()).toBe(true);
  });

  it('link and linkError per call: the callback gets the result, the errback the id', async () => {
    const ok = t.add.s(20, 22).link(t.record.s(`link-${name}`));
    const okResult = ok.applyAsync();
    expect(await okResult.get({ timeout: 20 })).toBe(42);
    const bad = t.fail.s('x').linkError(t.record.s(`err-${name}`));
    const badResult = bad.applyAsync();
    await expect(badResult.get({ timeout: 20 })).rejects.toBeInstanceOf(TaskError);
    const probe = () => t.add.delay(0, 0).get({ timeout: 20 });
    expect(await recordedTimes(`${tag}:link-${name}`, probe)).toBe(1);
    expect(recorded.get(`${tag}:link-${name}`)![0]).toEqual([42, `link-${name}`]);
    expect(await recordedTimes(`${tag}:err-${name}`, probe)).toBe(1);
    expect(recorded.get(`${tag}:err-${name}`)![0]).toEqual([badResult.id, `err-${name}`]);
  });

  it("applyAsync's link and linkError options, as Celery's apply_async(link=, link_error=)", async () => {
    const okResult = t.add.applyAsync(
      [1, 2],
      {},
      {
        link: [t.record.s(`alink-${name}`), chain(t.mul.s(10), t.record.s(`alink2-${name}`))],
      },
    );
    expect(await okResult.get({ timeout: 20 })).toBe(3);
    const badResult = t.fail.applyAsync(['y'], {}, { linkError: t.record.s(`aerr-${name}`) });
    await expect(badResult.get({ timeout: 20 })).rejects.toBeInstanceOf(TaskError);
    const probe = () => t.add.delay(0, 0).get({ timeout: 20 });
    expect(await recordedTimes(`${tag}:alink-${name}`, probe)).toBe(1);
    expect(recorded.get(`${tag}:alink-${name}`)![0]).toEqual([3, `alink-${name}`]);
    expect(await recordedTimes(`${tag}:alink2-${name}`, probe)).toBe(1);
    expect(recorded.get(`${tag}:alink2-${name}`)![0]).toEqual([30, `alink2-${name}`]);
    expect(await recordedTimes(`${tag}:aerr-${name}`, probe)).toBe(1);
    expect(recorded.get(`${tag}:aerr-${name}`)![0]).toEqual([badResult.id, `aerr-${name}`]);
    expect(() => t.add.applyAsync([1, 2], {}, { link: 'x' as never })).toThrow(
      expect.objectContaining({ code: 'CELERIAC_ERR_INVALID_OPTION' }),
    );
  });

  if (chords) {
    it('chord: the body gets the header results in order; parent is the header group', async () => {
      const header = Array.from({ length: 20 }, (_, i) => t.mul.s(i, i));
      const r = chord(header, t.tsum.s()).applyAsync();
      const expected = Array.from({ length: 20 }, (_, i) => i * i).reduce((s, x) => s + x, 0);
      expect(await r.get({ timeout: 30 })).toBe(expected);
      expect(r.parent).toBeInstanceOf(GroupResult);
      expect(await (r.parent as GroupResult).get({ timeout: 5 })).toEqual(
        Array.from({ length: 20 }, (_, i) => i * i),
      );
    });

    it('chord: a failing header part fails it; the body never runs, its errback runs once', async () => {
      const body = t.record.s(`body-${name}`).linkError(t.record.s(`chorderr-${name}`));
      const r = chord([t.add.s(1, 2), t.fail.s('header broke'), t.add.s(3, 4)], body).applyAsync();
      const err = await r.get({ timeout: 30, propagate: false });
      expect(err).toBeInstanceOf(TaskError);
      expect((err as TaskError).type).toBe('ChordError');
      const failedId = (r.parent as GroupResult).results[1]!.id;
      expect((err as TaskError).message).toContain(failedId);
      const probe = () => t.add.delay(0, 0).get({ timeout: 20 });
      expect(await recordedTimes(`${tag}:chorderr-${name}`, probe)).toBe(1);
      expect(recorded.get(`${tag}:chorderr-${name}`)![0]).toEqual([r.id, `chorderr-${name}`]);
      expect(recorded.has(`${tag}:body-${name}`)).toBe(false);
    });

    it('a chord with an empty header runs its body with []', async () => {
      expect(await chord([], t.tsum.s()).applyAsync().get({ timeout: 20 })).toBe(0);
    });

    it('GroupResult.save() and restore() round-trip through celery-taskset-meta-<id>', async () => {
      const g = group([t.add.s(1, 2), t.add.s(3, 4)]).applyAsync();
      await g.save();
      const back = await GroupResult.restore<number>(g.id, client);
      expect(back?.results.map((x) => x.id)).toEqual(g.results.map((x) => x.id));
      expect(await back!.get({ timeout: 20 })).toEqual([3, 7]);
      expect(await GroupResult.restore('no-such-group', client)).toBeNull();
    });
  } else {
    // Chords on memory:// join by celery.chord_unlock: chord-unlock.integration.test.ts.
    it('GroupResult.save() on a backend that cannot save groups rejects with a typed error', async () => {
      await expect(
        group([t.add.s(1, 1)])
          .applyAsync()
          .save(),
      ).rejects.toMatchObject({
        code: ErrorCodes.INVALID_STATE,
      });
    });
  }
});

describe('signatures', () => {
  const app = new Celeriac({ broker: 'memory://sigs', logger: silentLogger });
  const add = app.task('sig.add', (a: number, b: number) => a + b);

  it('s, si, set, clone and toJSON give Celery dicts', () => {
    const s = add.s(1).set({ queue: 'q1', countdown: 5, timeLimit: 3 });
    expect(s.toJSON()).toEqual({
      task: 'sig.add',
      args: [1],
      kwargs: {},
      options: { queue: 'q1', countdown: 5, time_limit: 3 },
      subtask_type: null,
      immutable: false,
    });
    expect(add.s(1).toJSON()).toEqual({
      task: 'sig.add',
      args: [1],
      kwargs: {},
      options: { queue: 'celery' },
      subtask_type: null,
      immutable: false,
    });
    expect(s.clone([2]).args).toEqual([1, 2]);
    expect(add.si(1, 2).clone([3]).args).toEqual([1, 2]);
    expect(add.si(1, 2).toJSON().immutable).toBe(true);
    expect(app.signature('py.task', [1], { k: 2 }).toJSON()).toMatchObject({
      task: 'py.task',
      args: [1],
      kwargs: { k: 2 },
    });
  });

  it('an unknown option, a part that is not a signature and an empty chain are typed errors', () => {
    expect(() => add.s(1).set({ qeue: 'x' } as never)).toThrow(/unknown option "qeue"/);
    expect(() => chain(add.s(1), 42 as never)).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }),
    );
    expect(() => chain(...([] as unknown as [Signature]))).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }),
    );
  });
});
