import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Celeriac } from '@celeriac/client';
import { ManualClock, silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Beat } from './beat.js';
import { startEmbeddedBeat } from './embedded.js';
import type { BeatEntry } from './entry.js';
import { RedisScheduleStore } from './redis/redis-schedule-store.js';
import { every } from './schedules/every.js';
import { interval } from './schedules/interval.js';

const url = inject('redisUrl');
let redis: Redis;
beforeAll(() => {
  redis = new Redis(url);
});
afterAll(async () => {
  await redis.quit();
});

const T0 = Date.parse('2030-01-01T00:00:00Z');
const at = (ms: number): string => new Date(ms).toISOString();

/** Scheduled times of the messages on a queue, oldest first, read from Redis (kombu's layout). */
async function scheduledTimes(queue: string): Promise<string[]> {
  const raw = await redis.lrange(queue, 0, -1);
  return raw
    .map((s) =>
      String((JSON.parse(s) as { headers: Record<string, unknown> }).headers['beat_scheduled_at']),
    )
    .reverse();
}

async function cleanup(namespace: string, queue: string): Promise<void> {
  const keys = await redis.keys(`_celeriac.beat.{${namespace}}.*`);
  await redis.del(queue, ...keys);
}

describe('restart of all beats, on Redis (store and broker)', () => {
  async function restartAfter(minutes: number, policy: Partial<BeatEntry>): Promise<string[]> {
    const namespace = uniqueName('beat-restart');
    const queue = uniqueName('beat-restart-q');
    const entries: BeatEntry[] = [
      {
        name: 'minutely',
        task: 'tasks.tick',
        schedule: interval({ minutes: 1 }),
        options: { queue },
        ...policy,
      },
    ];
    const app = new Celeriac({ broker: url, backend: false, logger: silentLogger });
    try {
      for (const [clockAt, tick] of [
        [T0 + 1, T0 + 60_000],
        [T0 + 60_000 + minutes * 60_000 + 500, undefined],
      ] as const) {
        // A beat process, with its own store connection, as after a restart.
        const store = new RedisScheduleStore({ url, namespace });
        const clock = new ManualClock(clockAt);
        const beat = new Beat(app, { store, entries, clock });
        await beat.syncEntries();
        if (tick !== undefined) {
          await beat.tick();
          clock.set(tick);
        }
        await beat.tick();
        await beat.close();
        await store.close();
      }
      return await scheduledTimes(queue);
    } finally {
      await app.close();
      await cleanup(namespace, queue);
    }
  }

  it('coalesce (default): ten missed runs are enqueued once, as the latest', async () => {
    expect(await restartAfter(10, {})).toEqual([at(T0 + 60_000), at(T0 + 11 * 60_000)]);
  });

  it('catchUp: each missed run is enqueued, up to the limit', async () => {
    expect(await restartAfter(3, { catchUp: true })).toEqual(
      [1, 2, 3, 4].map((m) => at(T0 + m * 60_000)),
    );
    expect(await restartAfter(10, { catchUp: true, catchUpLimit: 5 })).toEqual(
      [1, 7, 8, 9, 10, 11].map((m) => at(T0 + m * 60_000)),
    );
  });

  it('misfireGraceTime: runs missed by more than the grace are skipped', async () => {
    expect(await restartAfter(10, { catchUp: true, misfireGraceTime: 61 })).toEqual(
      [1, 10, 11].map((m) => at(T0 + m * 60_000)),
    );
  });
});

describe('embedding', () => {
  it('startEmbeddedBeat on a memory:// app enqueues every second; close() is idempotent, stop() its deprecated alias', async () => {
    const app = new Celeriac({ broker: 'memory://', backend: false, logger: silentLogger });
    const embedded = await startEmbeddedBeat(app, silentLogger, {
      entries: [
        {
          name: 'ping',
          task: 'ops.ping',
          schedule: every().second(),
          options: { queue: 'embedded' },
        },
      ],
    });
    expect(embedded.beat.state).toBe('running');
    await sleep(2300);
    await Promise.all([embedded.close(), embedded.stop()]);
    expect(embedded.beat.state).toBe('closed');
    const count = await (await app.broker()).count('embedded');
    expect(count).toBeGreaterThanOrEqual(2);
    expect(count).toBeLessThanOrEqual(3);
    await app.close();
  });

  it('startEmbeddedBeat on a redis:// app keeps the schedule in Redis', async () => {
    const queue = uniqueName('beat-embedded-q');
    const namespace = uniqueName('beat-embedded');
    const app = new Celeriac({ broker: url, backend: false, logger: silentLogger });
    const embedded = await startEmbeddedBeat(app, silentLogger, {
      entries: [{ name: 'ping', task: 'ops.ping', schedule: every().second(), options: { queue } }],
      namespace,
    });
    expect(embedded.beat.store).toBeInstanceOf(RedisScheduleStore); // the app's broker URL
    expect(embedded.beat.store.namespace).toBe(namespace);
    await sleep(1200);
    await embedded.close();
    expect(await redis.llen(queue)).toBeGreaterThanOrEqual(1);
    expect(await redis.exists(`_celeriac.beat.{${namespace}}.lock`)).toBe(0); // released on stop
    await app.close();
    await cleanup(namespace, queue);
  });

  it('importing @celeriac/beat does not load ioredis; @celeriac/beat/redis does', () => {
    const script = `
      const { createRequire } = await import('node:module');
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/ioredis/'));
      await import('@celeriac/beat');
      const before = loaded();
      await import('@celeriac/beat/redis');
      console.log(JSON.stringify([before, loaded()]));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
    });
    expect(JSON.parse(out.trim())).toEqual([false, true]);
  });
});
