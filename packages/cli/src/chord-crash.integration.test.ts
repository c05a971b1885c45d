/**
 * Chords with a worker SIGKILLed in the middle of the header: two `celeriac worker` processes
 * run a Node chord's header parts; one is killed once about half of the parts are counted in
 * the join (`celery-taskset-meta-<gid>.j`). Its unacked parts come back to the other worker
 * (Redis: after the 3 s visibility timeout; RabbitMQ: when its connection drops) and run again.
 * Every run of the body and of the errback is appended to a Redis list by the task itself, and
 * the lists are read only once nothing is left to run: on Redis, the queue has nothing queued
 * or unacked; on RabbitMQ, the surviving worker has stopped (finishing what it ran) and the
 * queue is empty.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Celeriac, TaskError, chord, type GroupResult } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import {
  rabbitMqForTests,
  startRedisServer,
  uniqueName,
  type RabbitMqForTests,
  type RedisServerHandle,
} from '@celeriac/testing';
import { startWorkerProcess, type WorkerProcess } from './spawn-cli.test-helper.js';

// A Redis of its own: the short visibility timeout here would restore other tests' messages.
let server: RedisServerHandle;
let redis: Redis;
let rabbit: RabbitMqForTests;
beforeAll(async () => {
  [server, rabbit] = await Promise.all([startRedisServer(), rabbitMqForTests()]);
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  await Promise.all([server?.stop(), rabbit?.release()]);
});

type BrokerName = 'redis' | 'rabbitmq';

const workers: WorkerProcess[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) if (w.child.exitCode === null) w.child.kill('SIGKILL');
});

/** Two workers and a client on one queue; the keys the tasks append their runs to. */
async function setUp(brokerName: BrokerName) {
  const queue = uniqueName('chord-crash');
  const broker = brokerName === 'redis' ? server.url : rabbit.url;
  const keys = {
    FX_RUNS_KEY: uniqueName('part-runs'),
    FX_BODY_RUNS_KEY: uniqueName('body-runs'),
    FX_ERRBACK_RUNS_KEY: uniqueName('errback-runs'),
    FX_ACTIVE_KEY: uniqueName('active-parts'),
  };
  const env = {
    CELERIAC_BROKER_URL: broker,
    FX_BACKEND_URL: server.url,
    FX_VISIBILITY_TIMEOUT: '3', // Redis only
    ...keys,
  };
  const args = ['-Q', queue, '-c', '10', '--prefetch', '20'];
  const [victim, survivor] = await Promise.all([
    startWorkerProcess(args, { ...env, FX_WORKER: 'victim' }),
    startWorkerProcess(args, { ...env, FX_WORKER: 'survivor' }),
  ]);
  workers.push(victim, survivor);
  const app = new Celeriac({
    broker,
    backend: server.url,
    logger: silentLogger,
    defaultQueue: queue,
  });
  const close = async (): Promise<void> => {
    await app.close();
    await redis.del(...Object.values(keys));
  };
  return { queue, keys, victim, survivor, app, close };
}

/**
 * Kills `victim` once the chord's join holds `half` parts and the victim is running a part
 * (so the kill interrupts work, not an idle worker); checks the chord was still open.
 */
async function killMidway(
  victim: WorkerProcess,
  groupId: string,
  half: number,
  activeKey: string,
): Promise<void> {
  const join = `celery-taskset-meta-${groupId}.j`;
  await expect
    .poll(() => redis.zcard(join), { timeout: 30_000, interval: 5 })
    .toBeGreaterThanOrEqual(half);
  await expect
    .poll(async () => Number(await redis.hget(activeKey, 'victim')), {
      timeout: 30_000,
      interval: 2,
    })
    .toBeGreaterThan(0);
  victim.child.kill('SIGKILL');
  await victim.exited;
  expect(await redis.exists(`celery-taskset-meta-${groupId}.s`)).toBe(1);
}

/**
 * Resolves once nothing is left to run. Redis: the queue has nothing waiting and nothing
 * unacked (the dead worker's messages restored and run). RabbitMQ (no unacked count to read):
 * the survivor stops gracefully, finishing what it runs, and the queue holds no message.
 */
async function drained(
  brokerName: BrokerName,
  queue: string,
  survivor: WorkerProcess,
  app: Celeriac,
): Promise<void> {
  if (brokerName === 'redis') {
    await expect
      .poll(async () => (await redis.llen(queue)) + (await redis.hlen('unacked')), {
        timeout: 30_000,
        interval: 50,
      })
      .toBe(0);
  }
  survivor.child.kill('SIGTERM');
  expect(await survivor.exited).toBe(0);
  expect(await (await app.broker()).purge(queue)).toBe(0);
}

/** How many part runs were reruns: what the killed worker held (running or prefetched). */
async function reruns(runsKey: string, parts: number): Promise<number> {
  const runs = await redis.lrange(runsKey, 0, -1);
  expect(new Set(runs).size).toBe(parts);
  return runs.length - parts;
}

describe.each(['redis', 'rabbitmq'] as const)(
  'chords on %s with a worker SIGKILLed mid-header',
  (brokerName) => {
    it('a chord of 1,000 parts completes; its body runs exactly once with every result in order', async () => {
      const { queue, keys, victim, survivor, app, close } = await setUp(brokerName);
      try {
        const total = 1000;
        const header = Array.from({ length: total }, (_, i) =>
          app.signature('fx.chord_part', [i, 25]),
        );
        const result = chord(header, app.signature<number>('fx.chord_body')).applyAsync();
        await result.published;
        const groupId = (result.parent as GroupResult).id;
        await killMidway(victim, groupId, total / 2, keys.FX_ACTIVE_KEY);

        expect(await result.get({ timeout: 60 })).toBe(total * (total - 1)); // Σ 2i
        await drained(brokerName, queue, survivor, app);
        expect(await redis.lrange(keys.FX_BODY_RUNS_KEY, 0, -1)).toEqual([result.id]);
        const again = await reruns(keys.FX_RUNS_KEY, total);
        expect(again).toBeGreaterThan(0); // the kill landed while the victim held parts
        expect(again).toBeLessThanOrEqual(20); // at most its prefetch
        expect(await (result.parent as GroupResult).get({ timeout: 10 })).toEqual(
          Array.from({ length: total }, (_, i) => 2 * i),
        );
        console.log(
          `chord crash test (${brokerName}): ${total} parts, ${again} ran twice, the body once`,
        );
      } finally {
        await close();
      }
    });

    it('a chord with one failing part: its errback runs exactly once, its body never; get() rejects with ChordError naming the part', async () => {
      const { queue, keys, victim, survivor, app, close } = await setUp(brokerName);
      try {
        const total = 400;
        const failing = 250; // after the kill: the survivor (or the victim's rerun) fails it
        const header = Array.from({ length: total }, (_, i) =>
          app.signature('fx.chord_part', [i, 25, i === failing]),
        );
        const body = app.signature('fx.chord_body').linkError(app.signature('fx.chord_errback'));
        const result = chord(header, body).applyAsync();
        await result.published;
        const group = result.parent as GroupResult;
        await killMidway(victim, group.id, total / 2, keys.FX_ACTIVE_KEY);

        const err = await result.get({ timeout: 60 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TaskError);
        expect((err as TaskError).type).toBe('ChordError');
        const failedId = group.results[failing]!.id;
        expect((err as TaskError).message).toContain(`Dependency ${failedId} raised`);
        await drained(brokerName, queue, survivor, app);
        expect(await redis.lrange(keys.FX_ERRBACK_RUNS_KEY, 0, -1)).toEqual([result.id]);
        expect(await redis.llen(keys.FX_BODY_RUNS_KEY)).toBe(0);
        expect(await reruns(keys.FX_RUNS_KEY, total)).toBeGreaterThan(0);
      } finally {
        await close();
      }
    });
  },
);
