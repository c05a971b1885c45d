import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { uniqueName } from '@celeriac/testing';
import { Redis } from 'ioredis';
import { afterAll, expect, inject, it } from 'vitest';
import { runTaskId } from './entry.js';
import { RedisScheduleStore } from './redis/redis-schedule-store.js';

const url = inject('redisUrl');
const FIXTURE = fileURLToPath(new URL('../test-fixtures/beat-process.js', import.meta.url));
const LOCK_TTL_S = 4;
const RUN_MS = 60_000;

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

interface Published {
  entry: string;
  scheduledAt: number;
  taskId: string;
}

/** Every message on the queue, as the Redis broker wrote it in kombu's layout. */
async function readQueue(redis: Redis, queue: string): Promise<Published[]> {
  const raw = await redis.lrange(queue, 0, -1);
  return raw.map((s) => {
    const env = JSON.parse(s) as { headers: Record<string, unknown> };
    return { entry: String(env.headers['beat_entry']), scheduledAt: Date.parse(String(env.headers['beat_scheduled_at'])), taskId: String(env.headers['id']) };
  });
}

it(
  `three beat processes for 60 s: each run enqueued exactly once; the leader SIGKILLed, the runs go on within the lock TTL (${LOCK_TTL_S} s)`,
  async () => {
    const namespace = uniqueName('beat-mp');
    const queue = uniqueName('beat-mp-q');
    const redis = new Redis(url);
    const store = new RedisScheduleStore({ url, namespace });
    const byId = new Map<string, ChildProcess>();
    const output = new Map<string, string>();
    for (const id of ['beat-1', 'beat-2', 'beat-3']) {
      const child = spawn(process.execPath, [FIXTURE, url, namespace, queue, id, String(LOCK_TTL_S)], { stdio: ['ignore', 'pipe', 'pipe'] });
      output.set(id, '');
      child.stdout?.on('data', (d: Buffer) => output.set(id, (output.get(id) ?? '') + d.toString()));
      child.stderr?.on('data', (d: Buffer) => output.set(id, (output.get(id) ?? '') + d.toString()));
      children.push(child);
      byId.set(id, child);
    }
    try {
      const started = Date.now();
      let leader: string | undefined;
      while (!leader && Date.now() - started < 15_000) {
        leader = (await store.leader(Date.now()))?.owner;
        if (!leader) await sleep(50);
      }
      expect(leader, [...output.values()].join('\n')).toBeDefined();
      await sleep(RUN_MS / 2);
      const killedAt = Date.now();
      byId.get(leader ?? '')?.kill('SIGKILL');
      let next: string | undefined;
      while ((!next || next === leader) && Date.now() - killedAt < 3 * LOCK_TTL_S * 1000) {
        next = (await store.leader(Date.now()))?.owner;
        await sleep(20);
      }
      const takeoverMs = Date.now() - killedAt;
      expect(next).toBeDefined();
      expect(next).not.toBe(leader);
      expect(takeoverMs).toBeLessThanOrEqual(LOCK_TTL_S * 1000 + 500);
      console.log(`leader ${leader ?? ''} SIGKILLed; ${next ?? ''} took over after ${takeoverMs} ms (lock TTL ${LOCK_TTL_S * 1000} ms)`);
      await sleep(Math.max(0, started + RUN_MS - Date.now()));
      await Promise.all(
        [...byId.entries()]
          .filter(([id]) => id !== leader)
          .map(([, c]) => new Promise<void>((resolve) => {
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
          })),
      );

      const published = await readQueue(redis, queue);
      // Exactly once: no task id and no (entry, scheduled time) twice, and the id is the one derived from the pair.
      expect(new Set(published.map((p) => p.taskId)).size).toBe(published.length);
      expect(new Set(published.map((p) => `${p.entry}@${p.scheduledAt}`)).size).toBe(published.length);
      for (const p of published) expect(p.taskId).toBe(runTaskId(namespace, p.entry, p.scheduledAt));

      const timesOf = (entry: string): number[] => published.filter((p) => p.entry === entry).map((p) => p.scheduledAt).sort((a, b) => a - b);
      // every-1s catches up: every second from the first run to the last is there, once.
      const every1s = timesOf('every-1s');
      expect(every1s.length).toBeGreaterThanOrEqual(RUN_MS / 1000 - 3);
      for (const t of every1s) expect(t % 1000).toBe(0);
      expect(every1s.slice(1).filter((t, i) => t - (every1s[i] ?? 0) !== 1000)).toEqual([]);
      // every-5s coalesces: one gap at most (the takeover), no longer than the lock TTL plus a period.
      const every5s = timesOf('every-5s');
      for (const t of every5s) expect(t % 5000).toBe(0);
      const irregular = every5s.slice(1).map((t, i) => t - (every5s[i] ?? 0)).filter((g) => g !== 5000);
      expect(irregular.length, JSON.stringify(irregular)).toBeLessThanOrEqual(1);
      for (const g of irregular) expect(g).toBeLessThanOrEqual(LOCK_TTL_S * 1000 + 5000);
      expect(every5s.length).toBeGreaterThanOrEqual(Math.floor((RUN_MS - LOCK_TTL_S * 1000) / 5000) - 2);
      console.log(`every-1s: ${every1s.length} runs, each once, none missing; every-5s: ${every5s.length} runs, each once, gaps other than 5 s: ${JSON.stringify(irregular)}`);
      expect(every1s.some((t) => t < killedAt - 1000)).toBe(true);
      expect(every1s.some((t) => t > killedAt + LOCK_TTL_S * 1000)).toBe(true);
      const log = [...output.values()].join('');
      expect(log).toContain('"msg":"beat: leader"');
      expect(log).not.toContain('"level":"error"');
    } finally {
      for (const c of byId.values()) if (c.exitCode === null) c.kill('SIGKILL');
      const keys = await redis.keys(`_celeriac.beat.{${namespace}}.*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.del(queue);
      await store.close();
      await redis.quit();
    }
  },
  120_000,
);
