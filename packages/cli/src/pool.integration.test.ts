import { describe, expect, inject, it } from 'vitest';
import { uniqueName } from '@celeriac/testing';
import { FIXTURE_APP, runCli, startWorkerProcess } from './spawn-cli.test-helper.js';

const redisUrl = inject('redisUrl');

describe('celeriac worker --pool', () => {
  it.each(['threads', 'process'])(
    '--pool %s runs tasks in pool members that load --app; SIGTERM exits 0',
    async (pool) => {
      const queue = uniqueName('cli-pool');
      const env = { CELERIAC_BROKER_URL: redisUrl };
      const worker = await startWorkerProcess(
        ['-Q', queue, '-c', '2', '--pool', pool, '--max-tasks-per-child', '1'],
        env,
      );
      for (const [a, b] of [
        [2, 3],
        [20, 22],
        [1, 1],
      ]) {
        const called = await runCli(
          [
            'call',
            'fx.add',
            '--args',
            JSON.stringify([a, b]),
            '-Q',
            queue,
            '--wait',
            '--timeout',
            '20',
          ],
          env,
        );
        expect(called.stdout.trim()).toBe(String(Number(a) + Number(b)));
      }
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      expect(worker.log()).toMatch(/maxTasksPerChild/); // members were replaced after each task
    },
  );

  it('a task in a pool member publishes to the --broker the worker was given, not the module one', async () => {
    const queue = uniqueName('cli-pool-urls');
    // No CELERIAC_BROKER_URL: the module alone would fall back to its embedded default.
    const worker = await startWorkerProcess(
      ['-Q', queue, '-c', '2', '--pool', 'process', '--broker', redisUrl],
      {},
    );
    try {
      const called = await runCli(
        [
          'call',
          'fx.relay',
          '--args',
          JSON.stringify([4, 5, queue]),
          '-Q',
          queue,
          '--wait',
          '--timeout',
          '40',
        ],
        { CELERIAC_BROKER_URL: redisUrl },
      );
      expect(called.stdout.trim()).toBe('9');
    } finally {
      worker.child.kill('SIGTERM');
    }
    expect(await worker.exited).toBe(0);
  });

  it('rejects an unknown pool with a usage error', async () => {
    const r = await runCli(['worker', '--app', FIXTURE_APP, '--pool', 'fibers'], {
      CELERIAC_BROKER_URL: redisUrl,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--pool must be async, threads or process/);
  });
});
