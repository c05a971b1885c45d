import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { uniqueName } from '@celeriac/testing';
import { runCli, startWorkerProcess } from './spawn-cli.test-helper.js';

const redisUrl = inject('redisUrl');

describe('celeriac CLI on Redis', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(redisUrl);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('prints help for every command and exits 0', async () => {
    for (const cmd of [
      ['--help'],
      ['worker', '--help'],
      ['call', '--help'],
      ['result', '--help'],
      ['purge', '--help'],
      ['dlq', '--help'],
      ['inspect', '--help'],
      ['dashboard', '--help'],
      ['control', '--help'],
      ['status', '--help'],
    ]) {
      const r = await runCli(cmd);
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/Usage: celeriac/);
    }
  });

  it('rejects a bad flag with one line and exit code 2', async () => {
    const r = await runCli(['worker', '--concurency', '4']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^celeriac worker: Unknown option '--concurency'/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('reports an unreachable broker in one line with a non-zero exit', async () => {
    const r = await runCli(
      ['call', 'fx.add', '--args', '[1,2]', '--broker', 'redis://127.0.0.1:1'],
      {},
      60_000,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/redis:\/\/127\.0\.0\.1:1/);
  });

  it('worker runs tasks sent with `celeriac call`, `result` reads them, SIGTERM exits 0', async () => {
    const queue = uniqueName('cli');
    const env = { CELERIAC_BROKER_URL: redisUrl };
    const worker = await startWorkerProcess(['-Q', queue, '-c', '4', '--loglevel', 'info'], env);
    const called = await runCli(
      ['call', 'fx.add', '--args', '[2, 3]', '-Q', queue, '--wait', '--timeout', '20'],
      env,
    );
    expect(called.stderr).toBe('');
    expect(called.stdout.trim()).toBe('5');
    const sent = await runCli(['call', 'fx.add', '--args', '[20, 22]', '-Q', queue], env);
    const id = sent.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const read = await runCli(['result', id, '--wait', '--timeout', '20'], env);
    expect(JSON.parse(read.stdout)).toMatchObject({ id, state: 'SUCCESS', result: 42 });
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(worker.log()).toMatch(/worker stopped/);
  });

  it('`inspect` asks running workers through remote control; no worker is exit 69 with one line', async () => {
    const queue = uniqueName('cli');
    const name = `${uniqueName('cli-node')}@test`;
    const env = { CELERIAC_BROKER_URL: redisUrl };
    const worker = await startWorkerProcess(['-Q', queue, '-c', '2', '-n', name], env);
    try {
      const ping = await runCli(['inspect', 'ping', '-d', name, '-t', '3'], env);
      expect(ping.code).toBe(0);
      expect(ping.stdout).toContain(`-> ${name}: OK\n        pong`);
      expect(ping.stdout).toMatch(/1 node online\./);
      const registered = await runCli(['inspect', 'registered', '-d', name, '--json'], env);
      expect(JSON.parse(registered.stdout)).toEqual({
        [name]: expect.arrayContaining(['fx.add']) as unknown,
      });
      const nobody = await runCli(['inspect', 'ping', '-d', 'nobody@nowhere', '-t', '0.5'], env);
      expect(nobody.code).toBe(69);
      expect(nobody.stderr.trim().split('\n')).toEqual([
        'celeriac: no worker replied within 0.5 s',
      ]);
      const bad = await runCli(['inspect', 'pong'], env);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/unknown inspect action "pong"/);
    } finally {
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
    }
  });

  it('`status` lists the workers; `control` changes one and `control shutdown` ends `celeriac worker` with 0', async () => {
    const queue = uniqueName('cli');
    const added = uniqueName('cli-added');
    const name = `${uniqueName('cli-node')}@test`;
    const env = { CELERIAC_BROKER_URL: redisUrl };
    const worker = await startWorkerProcess(['-Q', queue, '-c', '2', '-n', name], env);
    const status = await runCli(['status', '-d', name, '-t', '5'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toBe(`-> ${name}: OK\n\n1 node online.\n`);
    const to = ['-d', name, '-t', '5'];
    const grow = await runCli(['control', 'pool_grow', '3', ...to], env);
    expect(grow.stdout).toBe(`-> ${name}: OK\n        pool will grow\n`);
    const stats = await runCli(['inspect', 'stats', ...to, '--json'], env);
    expect(JSON.parse(stats.stdout)).toMatchObject({ [name]: { pool: { 'max-concurrency': 5 } } });
    const rate = await runCli(['control', 'rate_limit', 'fx.add', '5/s', ...to, '-j'], env);
    expect(JSON.parse(rate.stdout)).toEqual({ [name]: { ok: 'new rate limit set successfully' } });
    const unknown = await runCli(['control', 'rate_limit', 'no.such', '5/s', ...to], env);
    expect(unknown.stdout).toBe(`-> ${name}: ERROR\n        unknown task\n`);
    await runCli(['control', 'add_consumer', added, ...to], env);
    const queues = await runCli(['inspect', 'active_queues', ...to, '--json'], env);
    expect(JSON.parse(queues.stdout)).toMatchObject({
      [name]: [{ name: queue }, { name: added }],
    });
    const badArg = await runCli(['control', 'pool_grow', 'two'], env);
    expect(badArg.code).toBe(2);
    expect(badArg.stderr).toMatch(/n must be an integer/);
    const down = await runCli(['control', 'shutdown', ...to], env);
    expect(down.stdout).toBe(`-> ${name}: OK\n        shutting down\n`);
    expect(await worker.exited).toBe(0);
    expect(worker.log()).toMatch(/worker stopped/);
    const none = await runCli(['status', '-d', name, '-t', '0.5'], env);
    expect(none.code).toBe(69);
  });

  it('warm shutdown finishes a running task; `purge` clears what waits', async () => {
    const queue = uniqueName('cli');
    const env = { CELERIAC_BROKER_URL: redisUrl };
    // Debug level: the worker logs each task it takes ("Task fx.sleep[<id>] received").
    const worker = await startWorkerProcess(
      ['-Q', queue, '-c', '1', '--prefetch', '1', '--loglevel', 'debug'],
      env,
    );
    const slow = await runCli(['call', 'fx.sleep', '--args', '[1500]', '-Q', queue], env);
    const slowId = slow.stdout.trim();
    await worker.waitForLog(`fx.sleep[${slowId}] received`); // the worker has started it
    const waiting = await runCli(['call', 'fx.sleep', '--args', '[10]', '-Q', queue], env);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    const done = await runCli(['result', slowId], env);
    expect(JSON.parse(done.stdout)).toMatchObject({ state: 'SUCCESS', result: 1500 });
    const notRun = await runCli(['result', waiting.stdout.trim()], env);
    expect(JSON.parse(notRun.stdout)).toMatchObject({ state: 'PENDING' });
    const purged = await runCli(['purge', '-Q', queue], env);
    expect(purged.stdout).toContain(`${queue}: 1 message purged`);
  });

  it("--broker and --backend override the app module's own URLs (worker and call)", async () => {
    const queue = uniqueName('cli');
    // The app module's broker would be memory://: only the flags point it at Redis.
    const env = { CELERIAC_BROKER_URL: 'memory://' };
    const flags = ['--broker', redisUrl, '--backend', redisUrl];
    const worker = await startWorkerProcess(['-Q', queue, '-c', '2', ...flags], env);
    try {
      expect(worker.log()).not.toMatch(/this worker is on memory/);
      const called = await runCli(
        [
          'call',
          'fx.add',
          '--app',
          'test-fixtures/app.js',
          ...flags,
          '--args',
          '[20, 22]',
          '-Q',
          queue,
          '--wait',
          '--timeout',
          '20',
        ],
        env,
      );
      expect(called.stderr).toBe('');
      expect(called.stdout.trim()).toBe('42');
    } finally {
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
    }
  });

  it('a second signal requeues the running task at once', async () => {
    const queue = uniqueName('cli');
    const env = { CELERIAC_BROKER_URL: redisUrl };
    const worker = await startWorkerProcess(
      [
        '-Q',
        queue,
        '-c',
        '1',
        '--prefetch',
        '1',
        '--shutdown-timeout',
        '60',
        '--loglevel',
        'debug',
      ],
      env,
    );
    const slow = await runCli(['call', 'fx.sleep', '--args', '[30000]', '-Q', queue], env);
    await worker.waitForLog(`fx.sleep[${slow.stdout.trim()}] received`);
    const t0 = Date.now();
    worker.child.kill('SIGTERM');
    await worker.waitForLog('warm shutdown'); // the first signal was handled
    worker.child.kill('SIGINT');
    expect(await worker.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const state = await runCli(['result', slow.stdout.trim()], env);
    expect(JSON.parse(state.stdout)).toMatchObject({ state: 'PENDING' });
    expect(await redis.llen(queue)).toBe(1);
  });
});

describe('celeriac dlq on Redis', () => {
  it('lists a dead letter with its reason and replays it once the worker knows the task', async () => {
    const queue = uniqueName('dlq');
    const env = { CELERIAC_BROKER_URL: redisUrl };
    // fx.later is unknown to the fixture app's worker: it is dead-lettered with NotRegistered.
    const worker = await startWorkerProcess(['-Q', queue, '-c', '2'], env);
    try {
      const sent = await runCli(['call', 'fx.later', '--args', '[1]', '-Q', queue], env);
      const id = sent.stdout.trim();
      let listed: { id: string; code: string; taskId: string; reason: string }[] = [];
      await expect
        .poll(
          async () => {
            const out = await runCli(['dlq', 'list', '-Q', queue], env);
            listed = out.stdout
              .trim()
              .split('\n')
              .filter(Boolean)
              .map((l) => JSON.parse(l) as (typeof listed)[number]);
            return listed.length;
          },
          { timeout: 15_000, interval: 300 },
        )
        .toBe(1);
      expect(listed[0]).toMatchObject({ code: 'CELERIAC_ERR_UNKNOWN_TASK', taskId: id });
      expect(listed[0]?.reason).toMatch(/not registered/);
      const replayed = await runCli(
        ['dlq', 'replay', '-Q', queue, '--id', listed[0]?.id ?? ''],
        env,
      );
      expect(replayed.stdout).toContain(`${queue}: 1 dead letter replayed`);
      // Still unknown: it comes back to the dead letters, never lost.
      await expect
        .poll(
          async () =>
            (await runCli(['dlq', 'list', '-Q', queue], env)).stdout
              .trim()
              .split('\n')
              .filter(Boolean).length,
          {
            timeout: 15_000,
            interval: 300,
          },
        )
        .toBe(1);
      const purged = await runCli(['dlq', 'purge', '-Q', queue], env);
      expect(purged.stdout).toContain(`${queue}: 1 dead letter purged`);
    } finally {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
  });
});
