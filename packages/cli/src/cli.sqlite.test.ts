import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { runTaskId } from '@celeriac/beat';
import { SqliteScheduleStore } from '@celeriac/beat/sqlite';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { afterEach, expect, it } from 'vitest';
import { BIN, runCli, startWorkerProcess, type WorkerProcess } from './spawn-cli.test-helper.js';

const APP = fileURLToPath(new URL('../test-fixtures/sqlite-beat-app.js', import.meta.url));

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

it('a worker, `celeriac call --wait`, AsyncResult.get() and `celeriac beat` in separate processes share one SQLite file', async () => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-cli-sqlite-'));
  const url = `sqlite://${join(dir, 'celeriac.db')}`;
  const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: '' };
  let worker: WorkerProcess | undefined;
  const beat = {
    log: '',
    exited: Promise.resolve<number | null>(null),
    kill: (): void => undefined,
  };
  const app = new Celeriac({ broker: url, logger: silentLogger });
  const store = new SqliteScheduleStore({ url });
  try {
    worker = await startWorkerProcess(['-c', '4'], env, APP);

    // A client process: results come back through the SQLite result backend.
    const called = await runCli(
      ['call', 'fx.add', '--args', '[2, 3]', '--wait', '--timeout', '20'],
      env,
    );
    expect(called.stderr).toBe('');
    expect(called.stdout.trim()).toBe('5');

    // App code in this process.
    expect(await app.sendTask<number>('fx.add', [20, 22]).get({ timeout: 20 })).toBe(42);

    // A beat process: its schedule store defaults to the broker's file.
    const child = spawn(process.execPath, [BIN, 'beat', '--app', APP, '--lock-ttl', '2'], {
      env: { ...process.env, ...env },
    });
    child.stdout.on('data', (d: Buffer) => (beat.log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (beat.log += d.toString()));
    beat.exited = new Promise((resolve) => child.once('exit', resolve));
    beat.kill = () => child.kill('SIGTERM');
    let entry = await store.get('add-every-second');
    const started = Date.now();
    while ((entry?.state.totalRunCount ?? 0) < 2 && Date.now() - started < 20_000) {
      await sleep(100);
      entry = await store.get('add-every-second');
    }
    expect(entry?.state.totalRunCount, beat.log).toBeGreaterThanOrEqual(2);
    const last = entry?.state.lastRunAt ?? 0;
    // The run beat enqueued, executed by the worker, its result read here.
    expect(
      await app
        .asyncResult<number>(runTaskId(store.namespace, 'add-every-second', last))
        .get({ timeout: 20 }),
    ).toBe(2);

    beat.kill();
    expect(await beat.exited, beat.log).toBe(0);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  } finally {
    beat.kill();
    if (worker?.child.exitCode === null) worker.child.kill('SIGKILL');
    await store.close();
    await app.close();
  }
}, 90_000);

it('a worker SIGKILLed mid-run: every task still gets its result, and nothing is left in the queue', async () => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-cli-sqlite-'));
  const url = `sqlite://${join(dir, 'celeriac.db')}`;
  const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: '', FX_VISIBILITY_TIMEOUT: '3' };
  const app = new Celeriac({ broker: url, logger: silentLogger });
  const workers: WorkerProcess[] = [];
  const total = 1000;
  try {
    const sent = Array.from({ length: total }, (_, i) =>
      app.sendTask<number>('fx.slowAdd', [i, 1000, 10]),
    );
    await Promise.all(sent.map((r) => r.published));
    const ids = sent.map((r) => r.id);
    const backend = await app.resultBackend();
    const succeeded = async (): Promise<number> =>
      (await backend.getMany(ids)).filter(
        (d, i) => d?.status === 'SUCCESS' && d.result === i + 1000,
      ).length;

    const args = ['-c', '20', '--prefetch', '40'];
    const victim = await startWorkerProcess(args, env, APP);
    workers.push(victim, await startWorkerProcess(args, env, APP));
    await expect.poll(succeeded, { timeout: 30_000, interval: 20 }).toBeGreaterThan(total / 4);
    victim.child.kill('SIGKILL');
    await victim.exited;

    await expect.poll(succeeded, { timeout: 60_000, interval: 100 }).toBe(total);
    const broker = (await app.broker()) as unknown as {
      count(q: string): Promise<number>;
      countReserved(q: string): Promise<number>;
    };
    await expect
      .poll(async () => [await broker.count('celery'), await broker.countReserved('celery')], {
        timeout: 10_000,
      })
      .toEqual([0, 0]);
    workers[1]?.child.kill('SIGTERM');
    expect(await workers[1]?.exited).toBe(0);
  } finally {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await app.close();
  }
}, 120_000);
