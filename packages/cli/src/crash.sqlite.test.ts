/**
 * The crash test on SQLite: a worker SIGKILLed in the middle of 2,000 tasks on one
 * `sqlite://` file. With a second worker process on the same file, every task runs and none is
 * left in the queue; the test reports how many ran twice (the killed worker's unfinished tasks
 * rerun once their lease runs out: at-least-once).
 *
 * And without a crash, two worker processes on one file run every task exactly once, and so
 * do two workers and a `celeriac beat` on one file: each run beat claims executes once.
 *
 * Each run appends its task id to a file, so the count does not depend on a result backend.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { SqliteScheduleStore } from '@celeriac/beat/sqlite';
import { BIN, SQLITE_FIXTURE_APP, startWorkerProcess } from './spawn-cli.test-helper.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-crash-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the SQLite broker adds to the contract: messages held by consumers, in any process. */
interface HeldCount {
  countReserved(queue: string): Promise<number>;
}

function runs(file: string): string[] {
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];
}

describe('crash safety on SQLite', () => {
  it('loses nothing when a worker is SIGKILLed mid-run of 2,000 tasks', async () => {
    const url = `sqlite://${join(dir, 'celeriac.db')}`;
    const runsFile = join(dir, 'runs.txt');
    const queue = uniqueName('crash');
    const env = { CELERIAC_BROKER_URL: url, FX_RUNS_FILE: runsFile, FX_VISIBILITY_TIMEOUT: '3' };
    const app = new Celeriac({
      broker: url,
      backend: false,
      logger: silentLogger,
      defaultQueue: queue,
    });
    const record = app.task('fx.record', (n: number, _ms: number) => n);
    const total = 2000;
    try {
      const results = Array.from({ length: total }, (_, i) => record.delay(i, 20));
      await Promise.all(results.map((r) => r.published));
      const broker = await app.broker();
      expect(broker.kind).toBe('sqlite');
      expect(await broker.count(queue)).toBe(total);

      const args = ['-Q', queue, '-c', '20', '--prefetch', '40'];
      const victim = await startWorkerProcess(args, env, SQLITE_FIXTURE_APP);
      const survivor = await startWorkerProcess(args, env, SQLITE_FIXTURE_APP);
      await expect
        .poll(() => runs(runsFile).length, { timeout: 30_000, interval: 20 })
        .toBeGreaterThan(total / 4);
      victim.child.kill('SIGKILL');
      await victim.exited;

      // Every task ran, and nothing is left: neither ready nor held by the dead worker.
      const held = broker as unknown as HeldCount;
      await expect
        .poll(
          async () => {
            const distinct = new Set(runs(runsFile)).size;
            const ready = await broker.count(queue);
            const reserved = await held.countReserved(queue);
            return { distinct, ready, reserved };
          },
          { timeout: 90_000, interval: 100 },
        )
        .toEqual({ distinct: total, ready: 0, reserved: 0 });
      const all = runs(runsFile);
      const ranTwice = all.length - new Set(all).size;
      console.log(
        `crash test (SQLite): ${total} tasks, every one ran; ${ranTwice} ran twice (held by the killed worker)`,
      );
      expect(ranTwice).toBeLessThanOrEqual(40); // at most what the victim held (its prefetch)

      survivor.child.kill('SIGTERM');
      expect(await survivor.exited).toBe(0);
      expect(await broker.count(queue)).toBe(0);
      expect(await held.countReserved(queue)).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('two worker processes on one file run every task exactly once when nothing crashes', async () => {
    const url = `sqlite://${join(dir, 'twice.db')}`;
    const runsFile = join(dir, 'runs-twice.txt');
    const queue = uniqueName('two-workers');
    const env = { CELERIAC_BROKER_URL: url, FX_RUNS_FILE: runsFile };
    const app = new Celeriac({
      broker: url,
      backend: false,
      logger: silentLogger,
      defaultQueue: queue,
    });
    const record = app.task('fx.record', (n: number, _ms: number) => n);
    const total = 1000;
    try {
      const args = ['-Q', queue, '-c', '10'];
      const workers = [
        await startWorkerProcess(args, env, SQLITE_FIXTURE_APP),
        await startWorkerProcess(args, env, SQLITE_FIXTURE_APP),
      ];
      // Published while both consume: they compete for every batch.
      const results = Array.from({ length: total }, (_, i) => record.delay(i, 2));
      await Promise.all(results.map((r) => r.published));
      await expect
        .poll(() => new Set(runs(runsFile)).size, { timeout: 60_000, interval: 50 })
        .toBe(total);
      for (const w of workers) w.child.kill('SIGTERM');
      expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
      expect(runs(runsFile)).toHaveLength(total); // none ran twice
      const broker = await app.broker();
      expect(await broker.count(queue)).toBe(0);
      expect(await (broker as unknown as HeldCount).countReserved(queue)).toBe(0);
      // Both took part.
      expect(workers.every((w) => /succeeded/.test(w.log()))).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('two workers and a beat on one file: every beat run and every published task runs once', async () => {
    const url = `sqlite://${join(dir, 'beat.db')}`;
    const runsFile = join(dir, 'runs-beat.txt');
    const env = { CELERIAC_BROKER_URL: url, FX_RUNS_FILE: runsFile };
    const app = new Celeriac({ broker: url, backend: false, logger: silentLogger });
    const record = app.task('fx.record', (n: number, _ms: number) => n);
    const store = new SqliteScheduleStore({ url });
    const beatRuns = 4;
    let beatLog = '';
    const beat = spawn(process.execPath, [BIN, 'beat', '--app', SQLITE_FIXTURE_APP], {
      env: { ...process.env, ...env },
    });
    beat.stdout.on('data', (d: Buffer) => (beatLog += d.toString()));
    beat.stderr.on('data', (d: Buffer) => (beatLog += d.toString()));
    const beatExited = new Promise<number | null>((resolve) => beat.once('exit', resolve));
    try {
      const workers = [
        await startWorkerProcess(['-c', '10'], env, SQLITE_FIXTURE_APP),
        await startWorkerProcess(['-c', '10'], env, SQLITE_FIXTURE_APP),
      ];
      const published = Array.from({ length: 500 }, (_, i) => record.delay(i, 2));
      await Promise.all(published.map((r) => r.published));
      const claimed = async (): Promise<number> =>
        (await store.get('record-every-second'))?.state.totalRunCount ?? 0;
      await expect
        .poll(claimed, { timeout: 60_000, interval: 100, message: beatLog })
        .toBeGreaterThanOrEqual(beatRuns);
      beat.kill('SIGTERM');
      expect(await beatExited, beatLog).toBe(0);
      const total = published.length + (await claimed());

      const broker = await app.broker();
      const held = broker as unknown as HeldCount;
      await expect
        .poll(
          async () => ({
            ran: new Set(runs(runsFile)).size,
            ready: await broker.count('celery'),
            reserved: await held.countReserved('celery'),
          }),
          { timeout: 60_000, interval: 100 },
        )
        .toEqual({ ran: total, ready: 0, reserved: 0 });
      for (const w of workers) w.child.kill('SIGTERM');
      expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
      expect(runs(runsFile)).toHaveLength(total); // none ran twice
      expect(workers.every((w) => /succeeded/.test(w.log()))).toBe(true);
    } finally {
      if (beat.exitCode === null) beat.kill('SIGKILL');
      await store.close();
      await app.close();
    }
  });
});
