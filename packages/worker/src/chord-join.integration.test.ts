/**
 * The worker's chord join on its own (Celeriac workers only; the Python mixes are in
 * interop/chord.python.integration.test.ts): header parts sent as Celery sends them (`group`,
 * `group_index`, `embed.chord`, the size at `.s`), the body run once with ordered results by
 * whichever of several workers ends the last part; on a backend without a chord join, one
 * warning.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import {
  createTaskMessage,
  encodeTaskMessage,
  silentLogger,
  type Logger,
  type SignatureJSON,
} from '@celeriac/core';
import { startRedisServer, uniqueName, type RedisServerHandle } from '@celeriac/testing';
import { Redis } from 'ioredis';
import { Worker } from './index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

let server: RedisServerHandle;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server?.stop();
});

function body(task: string, queue: string, options: Record<string, unknown> = {}): SignatureJSON {
  return {
    task,
    args: [],
    kwargs: {},
    options: { task_id: randomUUID(), queue, ...options },
    subtask_type: null,
    immutable: false,
  };
}

/** Publishes a chord's header as Celery's client does: the size first, then the parts. */
async function sendChord(
  app: Celeriac,
  queue: string,
  parts: { task: string; args: unknown[] }[],
  chord: SignatureJSON,
  redis?: Redis,
): Promise<string> {
  const groupId = randomUUID();
  await redis?.set(`celery-taskset-meta-${groupId}.s`, String(parts.length));
  const broker = await app.broker();
  for (const [i, p] of parts.entries()) {
    const msg = createTaskMessage({ name: p.task, args: p.args, groupId, groupIndex: i, chord });
    await broker.publish(queue, encodeTaskMessage(msg));
  }
  return groupId;
}

describe('chord join on Redis, Celeriac workers only', () => {
  it('runs the body once, with the results in header order, whichever worker ends last', async () => {
    const queue = uniqueName('chord');
    const redis = new Redis(server.url);
    cleanups.push(async () => void redis.disconnect());
    const calls: unknown[][] = [];
    const apps = [0, 1, 2].map(() => {
      const app = new Celeriac({ broker: server.url, backend: server.url, logger: silentLogger });
      app.task('js.add', async (a: number, b: number) => {
        await new Promise((r) => setImmediate(r));
        return a + b;
      });
      app.task('js.tlist', (numbers: number[]) => {
        calls.push(numbers);
        return numbers.length;
      });
      return app;
    });
    for (const app of apps) {
      const worker = new Worker(app, { queues: [queue], concurrency: 8 });
      await worker.start();
      cleanups.push(async () => {
        await worker.shutdown({ timeout: 2 });
        await app.close();
      });
    }
    const sig = body('js.tlist', queue);
    const parts = Array.from({ length: 300 }, (_, i) => ({ task: 'js.add', args: [i, 1] }));
    const groupId = await sendChord(apps[0]!, queue, parts, sig, redis);
    const bodyId = sig.options['task_id'] as string;
    expect(await apps[0]!.asyncResult(bodyId).get({ timeout: 20 })).toBe(300);
    expect(calls).toEqual([Array.from({ length: 300 }, (_, i) => i + 1)]);
    const keys = ['.j', '.t', '.s'].map((s) => `celery-taskset-meta-${groupId}${s}`);
    expect(await redis.exists(...keys)).toBe(0);
  });

  it('a failing part fails the chord with a ChordError on the body, errbacks once', async () => {
    const queue = uniqueName('chord');
    const redis = new Redis(server.url);
    cleanups.push(async () => void redis.disconnect());
    const app = new Celeriac({ broker: server.url, backend: server.url, logger: silentLogger });
    const errbacks: unknown[] = [];
    let bodyRuns = 0;
    app.task('js.add', (a: number, b: number) => a + b);
    app.task('js.fail', () => {
      throw new Error('nope');
    });
    app.task('js.body', () => ++bodyRuns);
    app.task('js.errback', (id: string) => void errbacks.push(id));
    const worker = new Worker(app, { queues: [queue], concurrency: 4 });
    await worker.start();
    cleanups.push(async () => {
      await worker.shutdown({ timeout: 2 });
      await app.close();
    });
    const errback = body('js.errback', queue);
    delete errback.options['task_id'];
    const sig = body('js.body', queue, { link_error: [errback] });
    await sendChord(
      app,
      queue,
      [
        { task: 'js.add', args: [1, 1] },
        { task: 'js.fail', args: [] },
      ],
      sig,
      redis,
    );
    const bodyId = sig.options['task_id'] as string;
    const err = await app
      .asyncResult(bodyId)
      .get({ timeout: 10 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'ChordError' });
    expect((err as Error).message).toMatch(/Dependency [0-9a-f-]{36} raised Exception\('nope'\)/);
    await expect.poll(() => errbacks).toEqual([bodyId]);
    expect(bodyRuns).toBe(0);
  });
});

/**
 * A worker that completed a chord and died before acking its part: the part comes back (as
 * the broker redelivers an unacked message) to a live worker. Staged deterministically: the
 * dead worker's joins are made on the backend directly, then the completing part's message is
 * published again.
 */
describe('chord join, the completing part redelivered', () => {
  async function stage(bodyTask: string) {
    const queue = uniqueName('chord');
    const redis = new Redis(server.url);
    cleanups.push(async () => void redis.disconnect());
    const app = new Celeriac({ broker: server.url, backend: server.url, logger: silentLogger });
    const runs: unknown[][] = [];
    app.task('js.add', (a: number, b: number) => a + b);
    app.task(bodyTask, (numbers: number[]) => {
      runs.push(numbers);
      return numbers.reduce((x, y) => x + y, 0);
    });
    const worker = new Worker(app, { queues: [queue], concurrency: 2 });
    await worker.start();
    cleanups.push(async () => {
      await worker.shutdown({ timeout: 2 });
      await app.close();
    });
    const sig = body(bodyTask, queue);
    const groupId = randomUUID();
    const keys = ['.j', '.t', '.s', '.claim'].map((x) => `celery-taskset-meta-${groupId}${x}`);
    await redis.set(keys[2]!, '3');
    const parts = [0, 1, 2].map((i) =>
      createTaskMessage({ name: 'js.add', args: [i, 1], groupId, groupIndex: i, chord: sig }),
    );
    // The dead worker(s) counted every part; the last join completed the chord and claimed it.
    const backend = await app.resultBackend();
    const joins = [];
    for (const [i, m] of parts.entries()) {
      joins.push(
        await backend.chordPartReturned!({
          groupId,
          taskId: m.headers.id,
          groupIndex: i,
          state: 'SUCCESS',
          result: i + 1,
          chord: sig,
        }),
      );
    }
    expect(joins.map((j) => j?.kind)).toEqual([undefined, undefined, 'complete']);
    expect(await redis.get(keys[3]!)).toBe(parts[2]!.headers.id);
    const broker = await app.broker();
    const redeliver = (i: number) => broker.publish(queue, encodeTaskMessage(parts[i]!));
    /**
     * Resolves once the join is released and the queue has nothing queued or unacked. (A
     * duplicate that comes after the release adds itself to a new `.j`, as in Celery: without
     * `.s` it completes nothing, and the key expires.)
     */
    const settled = async (): Promise<void> => {
      await expect.poll(() => redis.exists(...keys.slice(1)), { timeout: 10_000 }).toBe(0);
      await expect
        .poll(async () => (await redis.llen(queue)) + (await redis.hlen('unacked')), {
          timeout: 10_000,
        })
        .toBe(0);
    };
    return { app, sig, bodyId: sig.options['task_id'] as string, runs, redeliver, settled };
  }

  it('died before sending the body: the redelivered part sends it, and it runs once', async () => {
    const { app, bodyId, runs, redeliver, settled } = await stage('js.tsum1');
    await redeliver(0); // another part's duplicate first: it must not send the body
    await redeliver(2);
    expect(await app.asyncResult(bodyId).get({ timeout: 10 })).toBe(6);
    await settled();
    expect(runs).toEqual([[1, 2, 3]]);
  });

  it('died after sending the body: the redelivered part sees the body ran and does not send it again', async () => {
    const { app, sig, bodyId, runs, redeliver, settled } = await stage('js.tsum2');
    await app.sendSignature(sig, { parentResult: [1, 2, 3] }).published; // the dead worker's send
    expect(await app.asyncResult(bodyId).get({ timeout: 10 })).toBe(6);
    await redeliver(2);
    await redeliver(1);
    await settled();
    expect(runs).toEqual([[1, 2, 3]]);
  });
});

describe('chord join on a backend without one', () => {
  it('logs once that chord join needs the Redis backend', async () => {
    const warnings: string[] = [];
    const logger: Logger = {
      ...silentLogger,
      warn: (a: unknown, b?: unknown) => void warnings.push(String(typeof a === 'string' ? a : b)),
      child: () => logger,
    };
    const app = new Celeriac({ broker: `memory://${uniqueName('m')}`, logger });
    app.task('js.add', (a: number, b: number) => a + b);
    const worker = new Worker(app, { concurrency: 2, logger });
    await worker.start();
    cleanups.push(async () => {
      await worker.shutdown({ timeout: 1 });
      await app.close();
    });
    const sig = body('js.body', 'celery');
    const groupId = randomUUID();
    const ids = [0, 1, 2].map((i) =>
      createTaskMessage({ name: 'js.add', args: [i, 1], groupId, groupIndex: i, chord: sig }),
    );
    const broker = await app.broker();
    for (const m of ids) await broker.publish('celery', encodeTaskMessage(m));
    for (const m of ids)
      expect(await app.asyncResult(m.headers.id).get({ timeout: 5 })).toBeTypeOf('number');
    expect(warnings.filter((w) => w.includes('needs the Redis result backend'))).toHaveLength(1);
  });
});
