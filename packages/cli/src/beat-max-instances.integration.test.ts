import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisScheduleStore } from '@celeriac/beat/redis';
import { Celeriac, receiveEvents, type CeleryEvent } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { Redis } from 'ioredis';
import { expect, inject, it } from 'vitest';
import { BIN, startWorkerProcess, type WorkerProcess } from './spawn-cli.test-helper.js';

const url = inject('redisUrl');
const APP = fileURLToPath(new URL('../test-fixtures/beat-overlap-app.js', import.meta.url));
const TASK_MS = 2500;
const RUN_MS = 20_000;

it('maxInstances: 1 across 3 beat and 2 worker processes on Redis: never two runs at once, even over a leader change', async () => {
  const namespace = uniqueName('beat-maxi');
  const queue = uniqueName('beat-maxi-q');
  const key = uniqueName('beat-maxi-runs');
  const env = {
    CELERIAC_BROKER_URL: url,
    OV_KEY: key,
    OV_QUEUE: queue,
    OV_TASK_MS: String(TASK_MS),
    CELERIAC_LOG_LEVEL: 'info',
  };
  const redis = new Redis(url);
  const store = new RedisScheduleStore({ url, namespace });
  const workers: WorkerProcess[] = [];
  const beats = new Map<string, { child: ChildProcess; log: string }>();
  const runIds: string[] = [];
  // The beats run with -E: their events come on celeryev, from the beat id as hostname.
  const listener = new Celeriac({ broker: url, logger: silentLogger });
  const events: CeleryEvent[] = [];
  const receiver = await receiveEvents(listener, (e) => events.push(e), { routingKey: 'beat.#' });
  try {
    // Two workers of two slots each: without maxInstances, four runs could go at once.
    for (let i = 0; i < 2; i++)
      workers.push(
        await startWorkerProcess(['-Q', queue, '-c', '2', '-n', `w${i}@maxi`], env, APP),
      );
    for (const id of ['beat-1', 'beat-2', 'beat-3']) {
      const child = spawn(
        process.execPath,
        [BIN, 'beat', '--app', APP, '--namespace', namespace, '--lock-ttl', '2', '-E'],
        { env: { ...process.env, ...env } },
      );
      const b = { child, log: '' };
      child.stdout.on('data', (d: Buffer) => (b.log += d.toString()));
      child.stderr.on('data', (d: Buffer) => (b.log += d.toString()));
      beats.set(id, b);
    }
    const logs = (): string => [...beats.values()].map((b) => b.log).join('');
    const started = Date.now();
    let leader: string | undefined;
    while (!leader && Date.now() - started < 20_000) {
      leader = (await store.leader(Date.now()))?.owner;
      if (!leader) await sleep(50);
    }
    expect(leader, logs()).toBeDefined();
    const t0 = Date.now();
    // Halfway, the leading beat process dies; the next leader must see the run it left going.
    await sleep(RUN_MS / 2);
    const pid = Number(leader?.split(':')[1]);
    const victim = [...beats.values()].find((b) => b.child.pid === pid);
    expect(victim, `leader ${leader ?? ''} is one of the three`).toBeDefined();
    victim?.child.kill('SIGKILL');
    await sleep(RUN_MS / 2);
    for (const b of beats.values())
      if (b.child.exitCode === null && b !== victim) {
        const exited = new Promise((r) => b.child.once('exit', r));
        b.child.kill('SIGTERM');
        await exited;
      }
    // Let the runs under way end, then read what ran.
    const deadline = Date.now() + TASK_MS + 5000;
    let runs: { id: string; start: number; end: number }[] = [];
    let last = -1;
    while (Date.now() < deadline) {
      const raw = await redis.lrange(key, 0, -1);
      runs = raw.map((line) => {
        const [id = '', start = '0', end = '0'] = line.split(' ');
        return { id, start: Number(start), end: Number(end) };
      });
      // Settled once nothing was added for longer than a run takes.
      if (runs.length === last) break;
      last = runs.length;
      await sleep(TASK_MS + 500);
    }
    runs.sort((a, b) => a.start - b.start);
    runIds.push(...runs.map((r) => r.id));
    const overlaps = runs
      .slice(1)
      .filter((r, i) => r.start < (runs[i]?.end ?? 0))
      .map((r) => r.id);
    console.log(
      `${runs.length} runs in ${Math.round((Date.now() - t0) / 1000)} s, ${TASK_MS} ms each, every-second entry; overlaps: ${overlaps.length}`,
    );
    expect(overlaps, JSON.stringify(runs)).toEqual([]);
    expect(new Set(runs.map((r) => r.id)).size).toBe(runs.length);
    // Back to back: a run goes within about a period (plus a beat loop) of the last one's end.
    expect(runs.length).toBeGreaterThanOrEqual(Math.floor(RUN_MS / (TASK_MS + 2000)) - 1);
    const log = logs();
    expect(log).toContain('maxInstances runs of the entry are still queued or running');
    expect(log).not.toContain('maxInstances is not enforced');
    const mine = events.filter((e) => e['entry'] === 'overlapping');
    const types = new Set(mine.map((e) => e.type));
    for (const t of ['beat-added', 'beat-submitted', 'beat-max-instances', 'beat-executed'])
      expect(types, [...types].join(', ')).toContain(t);
    const submitted = mine.filter((e) => e.type === 'beat-submitted').map((e) => e.uuid);
    expect(new Set(submitted).size).toBe(submitted.length);
    for (const id of runs.map((r) => r.id)) expect(submitted).toContain(id);
  } finally {
    await receiver.close();
    await listener.close();
    for (const b of beats.values()) if (b.child.exitCode === null) b.child.kill('SIGKILL');
    for (const w of workers) {
      w.child.kill('SIGTERM');
      await w.exited;
    }
    const keys = await redis.keys(`_celeriac.beat.{${namespace}}.*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.del(key, queue, ...runIds.map((id) => `celery-task-meta-${id}`));
    await store.close();
    await redis.quit();
  }
}, 90_000);
