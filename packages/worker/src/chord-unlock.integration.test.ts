/**
 * Chords on result backends without a native join (memory, SQLite): the client sends
 * Celery's `celery.chord_unlock`, which a Celeriac worker runs, polling the header's results
 * until they are ready. Also the `celery.group` built-in and `AsyncResult.children`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AsyncResult,
  Celeriac,
  ErrorCodes,
  GroupResult,
  TaskError,
  chain,
  chord,
  group,
  type Task,
} from '@celeriac/client';
import { silentLogger, type Logger } from '@celeriac/core';
import { rabbitMqForTests, uniqueName } from '@celeriac/testing';
import { Worker } from './index.js';

interface Tasks {
  add: Task<[number, number], number>;
  tsum: Task<[number[]], number>;
  fail: Task<[string], never>;
  record: Task<unknown[], string>;
  gated: Task<[string], string>;
  fanOut: Task<[number], number>;
}

const recorded = new Map<string, unknown[][]>();
/** Gates that `gated` tasks wait on, released by the test. */
const gates = new Map<string, { promise: Promise<void>; open: () => void }>();

function gate(key: string): { promise: Promise<void>; open: () => void } {
  let g = gates.get(key);
  if (!g) {
    let open!: () => void;
    const promise = new Promise<void>((r) => (open = r));
    g = { promise, open };
    gates.set(key, g);
  }
  return g;
}

function define(app: Celeriac): Tasks {
  const add = app.task('cu.add', (a: number, b: number) => a + b);
  return {
    add,
    tsum: app.task('cu.tsum', (xs: number[]) => xs.reduce((s, x) => s + x, 0)),
    fail: app.task('cu.fail', (m: string): never => {
      const err = new Error(m);
      err.name = 'ValueError';
      throw err;
    }),
    record: app.task('cu.record', (...args: unknown[]) => {
      const key = String(args[args.length - 1]);
      recorded.set(key, [...(recorded.get(key) ?? []), args]);
      return key;
    }),
    gated: app.task('cu.gated', async (key: string) => {
      await gate(key).promise;
      return key;
    }),
    // Sends tasks from its body: they are its children.
    fanOut: app.task('cu.fanOut', async (n: number) => {
      const sent = Array.from({ length: n }, (_, i) => add.delay(i, i));
      await Promise.all(sent.map((r) => r.published));
      return n;
    }),
  };
}

/** A logger that keeps what was logged, by level. */
function keepingLogger(lines: { level: string; msg: string }[]): Logger {
  const at =
    (level: string) =>
    (a: unknown, b?: unknown): void =>
      void lines.push({ level, msg: String(typeof a === 'string' ? a : b) });
  const logger: Logger = {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: () => logger,
  };
  return logger;
}

const backends = ['memory', 'sqlite'] as const;

describe.each(backends)('chords without a native join (%s)', (kind) => {
  let client: Celeriac;
  let t: Tasks;
  const lines: { level: string; msg: string }[] = [];
  const closers: (() => Promise<void>)[] = [];
  const tag = uniqueName(`cu-${kind}`);

  beforeAll(async () => {
    const logger = keepingLogger(lines);
    let workerApp: Celeriac;
    if (kind === 'memory') {
      client = new Celeriac({ broker: `memory://${tag}`, logger: silentLogger });
      workerApp = client;
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'celeriac-cu-'));
      const url = `sqlite://${join(dir, 'celeriac.db')}`;
      client = new Celeriac({ broker: url, backend: url, logger: silentLogger });
      workerApp = new Celeriac({ broker: url, backend: url, logger: silentLogger });
      define(workerApp);
      closers.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
    }
    t = define(client);
    const worker = new Worker(workerApp, { concurrency: 8, logger });
    await worker.start();
    closers.unshift(async () => {
      await worker.shutdown({ timeout: 5 });
      if (workerApp !== client) await workerApp.close();
      await client.close();
    });
  });
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('a header part may be a chain (its last step counts) or a group (unrolled); a nested chord is refused', async () => {
    const r = chord([t.add.s(1, 1), chain(t.add.s(2, 2), t.add.s(10))], t.tsum.s()).applyAsync();
    expect(await r.get({ timeout: 30 })).toBe(2 + 14);
    const g = chord([group([t.add.s(1, 1), t.add.s(2, 2)]), t.add.s(3, 3)], t.tsum.s());
    expect(await g.applyAsync().get({ timeout: 30 })).toBe(2 + 4 + 6);
    const nested = chord([chord([t.add.s(1, 1)], t.tsum.s())], t.tsum.s()).applyAsync();
    await expect(nested.published).rejects.toMatchObject({ code: 'CELERIAC_ERR_INVALID_OPTION' });
  });

  it('the body gets the header results in header order', async () => {
    expect((await client.resultBackend()).kind).toBe(kind);
    const header = Array.from({ length: 10 }, (_, i) => t.add.s(i, i));
    const r = chord(header, t.tsum.s()).applyAsync();
    expect(await r.get({ timeout: 30 })).toBe(90);
    expect(r.parent).toBeInstanceOf(GroupResult);
    expect(await (r.parent as GroupResult).get({ timeout: 5 })).toEqual(
      Array.from({ length: 10 }, (_, i) => 2 * i),
    );
  });

  it('a failing part: the body never runs, its errback runs once, get() rejects with ChordError', async () => {
    const bodyKey = `${tag}-body`;
    const errKey = `${tag}-chorderr`;
    const body = t.record.s(bodyKey).linkError(t.record.s(errKey));
    const r = chord([t.add.s(1, 2), t.fail.s('header broke'), t.add.s(3, 4)], body).applyAsync();
    const err = await r.get({ timeout: 30 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect((err as TaskError).type).toBe('ChordError');
    const failedId = (r.parent as GroupResult).results[1]!.id;
    expect((err as TaskError).remoteMessage).toBe(
      `Dependency ${failedId} raised ValueError('header broke')`,
    );
    // The errback was sent before ChordError was stored; a probe sent now runs after it.
    await t.add.delay(0, 0).get({ timeout: 20 });
    await expect.poll(() => recorded.get(errKey)?.length, { timeout: 20_000 }).toBe(1);
    expect(recorded.get(errKey)![0]).toEqual([r.id, errKey]);
    expect(recorded.has(bodyKey)).toBe(false);
    expect(lines.filter((l) => l.level === 'error' && l.msg.includes('ChordError'))).toHaveLength(
      1,
    );
  });

  it('chord_unlock retries past any retry limit, logging no error per poll', async () => {
    const key = `${tag}-gate`;
    const groupId = randomUUID();
    const bodyId = randomUUID();
    const parts = [0, 1].map(() =>
      client.sendTask('cu.gated', [key], {}, { taskId: randomUUID() }),
    );
    const body = t.tsum.s().set({ taskId: bodyId }).toJSON();
    const unlock = client.sendTask('celery.chord_unlock', [groupId, body], {
      interval: 0.05,
      result: parts.map((p) => [[p.id, null], null]),
    });
    await unlock.published;
    const polls = (): number =>
      lines.filter((l) => l.msg.includes(`celery.chord_unlock[${unlock.id}] retry`)).length;
    // Celery's default max_retries is 3; chord_unlock has none.
    await expect.poll(polls, { timeout: 20_000, interval: 20 }).toBeGreaterThan(5);
    expect(lines.filter((l) => l.msg.includes(unlock.id) && l.level === 'error')).toEqual([]);
    gate(key).open();
    // cu.gated returns its key (a string): tsum of two strings concatenates them.
    expect(await client.asyncResult(bodyId).get({ timeout: 20 })).toBe(`0${key}${key}`);
  });

  it('celery.group sends each part with the group id and returns the group as its child', async () => {
    const groupId = randomUUID();
    const ids = [randomUUID(), randomUUID()];
    const tasks = ids.map((id, i) =>
      t.add
        .s(i * 10)
        .set({ taskId: id })
        .toJSON(),
    );
    const tuple = [[groupId, null], ids.map((id) => [[id, null], null])];
    const r = client.sendTask('celery.group', [tasks, tuple, groupId, [5]]);
    expect(await r.get({ timeout: 20 })).toEqual(tuple);
    expect(await client.asyncResult(ids[0]!).get({ timeout: 20 })).toBe(5);
    expect(await client.asyncResult(ids[1]!).get({ timeout: 20 })).toBe(15);
    const part = await client.asyncResult(ids[1]!).refresh();
    expect(part?.group_id).toBe(groupId);
    const children = r.children!;
    expect(children).toHaveLength(1);
    expect(children[0]).toBeInstanceOf(GroupResult);
    expect((children[0] as GroupResult).id).toBe(groupId);
    expect(await (children[0] as GroupResult).get({ timeout: 5 })).toEqual([5, 15]);
  });

  it('children: the next chain step, link callbacks and tasks the body sent', async () => {
    const r = chain(t.add.s(1, 1).link(t.record.s(`${tag}-cb`)), t.add.s(5)).applyAsync();
    expect(await r.get({ timeout: 20 })).toBe(7);
    const first = r.parent as AsyncResult<number>;
    expect(first.children).toBeUndefined(); // not read yet
    await first.get({ timeout: 5 });
    const ids = first.children!.map((c) => c.id);
    expect(ids).toHaveLength(2);
    expect(ids).toContain(r.id);
    expect(first.children!.every((c) => c instanceof AsyncResult)).toBe(true);
    expect(r.children).toEqual([]);

    const fan = t.fanOut.delay(3);
    await fan.get({ timeout: 20 });
    const sent = fan.children as AsyncResult<number>[];
    expect(sent).toHaveLength(3);
    expect(await Promise.all(sent.map((c) => c.get({ timeout: 20 })))).toEqual([0, 2, 4]);
    expect((await sent[0]!.refresh())?.parent_id).toBe(fan.id);
  });
});

describe('chords on rpc://', () => {
  it('reject with a typed error, as Celery refuses chords on its rpc backend', async () => {
    const rabbit = await rabbitMqForTests();
    const app = new Celeriac({ broker: rabbit.url, backend: 'rpc://', logger: silentLogger });
    const t = define(app);
    try {
      const r = chord([t.add.s(1, 1)], t.tsum.s()).applyAsync();
      await expect(r.published).rejects.toMatchObject({ code: ErrorCodes.INVALID_STATE });
    } finally {
      await app.close();
      await rabbit.release();
    }
  });
});
