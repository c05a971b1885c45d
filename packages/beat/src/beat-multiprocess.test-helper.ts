import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteBroker } from '@celeriac/broker/sqlite';
import type { BrokerMessage } from '@celeriac/core';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { runTaskId } from './entry.js';
import type { ScheduleStore } from './store/schedule-store.js';

const FIXTURE = fileURLToPath(new URL('../test-fixtures/beat-process.js', import.meta.url));

/** A run as a beat published it: the headers beat sets on every message. */
export interface PublishedRun {
  entry: string;
  scheduledAt: number;
  taskId: string;
}

/** Every message on the queue, as the Redis broker wrote it in kombu's layout. */
export async function readRedisQueue(redis: Redis, queue: string): Promise<PublishedRun[]> {
  const raw = await redis.lrange(queue, 0, -1);
  return raw.map((s) => runOf((JSON.parse(s) as { headers: BrokerMessage['headers'] }).headers));
}

function runOf(headers: BrokerMessage['headers']): PublishedRun {
  return {
    entry: String(headers['beat_entry']),
    scheduledAt: Date.parse(String(headers['beat_scheduled_at'])),
    taskId: String(headers['id']),
  };
}

/** Every message on the queue of a SQLite broker, taken off it through the broker itself. */
export async function readSqliteQueue(url: string, queue: string): Promise<PublishedRun[]> {
  const broker = new SqliteBroker({ url });
  try {
    const total = await broker.count(queue);
    const runs: PublishedRun[] = [];
    if (total === 0) return runs;
    let consumer: { cancel(): Promise<void> } | undefined;
    await new Promise<void>((resolve, reject) => {
      broker
        .consume({
          queues: [queue],
          prefetch: 100,
          onMessage: (d) => {
            runs.push(runOf(d.message.headers));
            d.ack().then(() => {
              if (runs.length === total) resolve();
            }, reject);
          },
        })
        .then((c) => (consumer = c), reject);
    });
    await consumer?.cancel();
    return runs;
  } finally {
    await broker.close();
  }
}

export interface BeatProcessesScenario {
  /** The schedule store every beat process opens (`createScheduleStore(storeUrl)`). */
  storeUrl: string;
  /** The broker the beats publish to. */
  brokerUrl: string;
  namespace: string;
  queue: string;
  lockTtlS: number;
  runMs: number;
  /** A store of the test's own on `storeUrl`, to watch the leader through. */
  store: ScheduleStore;
  /**
   * Also SIGSTOP the beat that took over, keep it stopped past its lock TTL (the third beat
   * takes over), then SIGCONT it: it must find its lease lost and enqueue nothing twice.
   * @default false
   */
  pauseTakeover?: boolean;
  /** Every run published to `queue`, read once the beats have stopped. */
  readPublished(): Promise<PublishedRun[]>;
}

/**
 * Three beat processes (test-fixtures/beat-process.js) share one store for `runMs`; the
 * leader is SIGKILLed halfway (a third of the way with `pauseTakeover`, and the next leader
 * SIGSTOPped at half-time past its lock TTL, then SIGCONTed). Asserts that each run was
 * enqueued exactly once, with the task id derived from (entry, scheduled time), that the
 * every-second entry (catch-up) has no hole, that the every-five-seconds entry (coalesce) has
 * at most one gap per takeover, and that a new leader took over within the lock TTL each
 * time. Resolves with lines for the test's log.
 */
export async function runBeatProcesses(s: BeatProcessesScenario): Promise<string[]> {
  const report: string[] = [];
  const { lockTtlS, runMs } = s;
  const byId = new Map<string, ChildProcess>();
  const output = new Map<string, string>();
  for (const id of ['beat-1', 'beat-2', 'beat-3']) {
    const child = spawn(
      process.execPath,
      [FIXTURE, s.storeUrl, s.namespace, s.queue, id, String(lockTtlS), s.brokerUrl],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    output.set(id, '');
    child.stdout?.on('data', (d: Buffer) => output.set(id, (output.get(id) ?? '') + d.toString()));
    child.stderr?.on('data', (d: Buffer) => output.set(id, (output.get(id) ?? '') + d.toString()));
    byId.set(id, child);
  }
  try {
    const started = Date.now();
    let leader: string | undefined;
    while (!leader && Date.now() - started < 15_000) {
      leader = (await s.store.leader(Date.now()))?.owner;
      if (!leader) await sleep(50);
    }
    expect(leader, [...output.values()].join('\n')).toBeDefined();
    /** Waits for a leader other than `not`, and checks it came within the lock TTL. */
    const takeover = async (not: readonly (string | undefined)[], since: number) => {
      let next: string | undefined;
      while ((!next || not.includes(next)) && Date.now() - since < 3 * lockTtlS * 1000) {
        next = (await s.store.leader(Date.now()))?.owner;
        await sleep(20);
      }
      const takeoverMs = Date.now() - since;
      expect(next).toBeDefined();
      expect(not).not.toContain(next);
      expect(takeoverMs).toBeLessThanOrEqual(lockTtlS * 1000 + 500);
      return { next: next ?? '', takeoverMs };
    };
    await sleep(s.pauseTakeover ? runMs / 3 : runMs / 2);
    const killedAt = Date.now();
    byId.get(leader ?? '')?.kill('SIGKILL');
    const { next, takeoverMs } = await takeover([leader], killedAt);
    report.push(
      `leader ${leader ?? ''} SIGKILLed; ${next} took over after ${takeoverMs} ms (lock TTL ${lockTtlS * 1000} ms)`,
    );
    let takeovers = 1;
    if (s.pauseTakeover) {
      await sleep(Math.max(0, started + runMs / 2 - Date.now()));
      const stoppedAt = Date.now();
      byId.get(next)?.kill('SIGSTOP');
      const third = await takeover([leader, next], stoppedAt);
      takeovers++;
      await sleep(Math.max(0, stoppedAt + lockTtlS * 1000 + 1000 - Date.now()));
      byId.get(next)?.kill('SIGCONT');
      const contAt = Date.now();
      report.push(
        `${next} SIGSTOPped; ${third.next} took over after ${third.takeoverMs} ms; ${next} SIGCONTed after ${contAt - stoppedAt} ms`,
      );
      // Woken past its TTL, the paused beat finds its lease gone and follows (what it had
      // claimed is the new leader's to republish: the exactly-once checks below see to that).
      const lostBy = Date.now() + 3 * lockTtlS * 1000;
      while (!(output.get(next) ?? '').includes('lost the leader lock') && Date.now() < lostBy)
        await sleep(50);
      expect(output.get(next)).toContain('"msg":"beat: lost the leader lock; following"');
    }
    await sleep(Math.max(0, started + runMs - Date.now()));
    await Promise.all(
      [...byId.entries()]
        .filter(([id]) => id !== leader)
        .map(
          ([, c]) =>
            new Promise<void>((resolve) => {
              c.once('exit', () => resolve());
              c.kill('SIGTERM');
            }),
        ),
    );

    const published = await s.readPublished();
    // Exactly once: no task id and no (entry, scheduled time) twice, and the id is the one derived from the pair.
    expect(new Set(published.map((p) => p.taskId)).size).toBe(published.length);
    expect(new Set(published.map((p) => `${p.entry}@${p.scheduledAt}`)).size).toBe(
      published.length,
    );
    for (const p of published)
      expect(p.taskId).toBe(runTaskId(s.namespace, p.entry, p.scheduledAt));

    const timesOf = (entry: string): number[] =>
      published
        .filter((p) => p.entry === entry)
        .map((p) => p.scheduledAt)
        .sort((a, b) => a - b);
    // every-1s catches up: every second from the first run to the last is there, once.
    const every1s = timesOf('every-1s');
    expect(every1s.length).toBeGreaterThanOrEqual(runMs / 1000 - 3);
    for (const t of every1s) expect(t % 1000).toBe(0);
    expect(every1s.slice(1).filter((t, i) => t - (every1s[i] ?? 0) !== 1000)).toEqual([]);
    // every-5s coalesces: one gap at most per takeover, no longer than the lock TTL plus a period.
    const every5s = timesOf('every-5s');
    for (const t of every5s) expect(t % 5000).toBe(0);
    const irregular = every5s
      .slice(1)
      .map((t, i) => t - (every5s[i] ?? 0))
      .filter((g) => g !== 5000);
    expect(irregular.length, JSON.stringify(irregular)).toBeLessThanOrEqual(takeovers);
    for (const g of irregular) expect(g).toBeLessThanOrEqual(lockTtlS * 1000 + 5000);
    expect(every5s.length).toBeGreaterThanOrEqual(
      Math.floor((runMs - takeovers * lockTtlS * 1000) / 5000) - 2,
    );
    report.push(
      `every-1s: ${every1s.length} runs, each once, none missing; every-5s: ${every5s.length} runs, each once, gaps other than 5 s: ${JSON.stringify(irregular)}`,
    );
    expect(every1s.some((t) => t < killedAt - 1000)).toBe(true);
    expect(every1s.some((t) => t > killedAt + lockTtlS * 1000)).toBe(true);
    const log = [...output.values()].join('');
    expect(log).toContain('"msg":"beat: leader"');
    expect(log).not.toContain('"level":"error"');
    return report;
  } finally {
    for (const c of byId.values()) if (c.exitCode === null) c.kill('SIGKILL');
  }
}
