/**
 * A CPU-bound task in a threads or process pool leaves the worker's event loop free: the
 * Redis broker keeps refreshing what the worker holds, so another worker never restores it
 * (to run it again), though it runs four times the visibility timeout. In the async pool it
 * would. The other worker is a process of its own (one in this process would stall with a
 * blocked loop too) that consumes another queue, so it can only restore the task, never take
 * it first; it reports the length of the task's queue as it changes. On a redis-server of its
 * own: the 1 s visibility timeout would restore other tests' messages.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Celeriac, Task } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { startRedisServer } from '@celeriac/testing';
import { Worker } from '../index.js';

const FIXTURE = fileURLToPath(new URL('../../test-fixtures/pool-app.js', import.meta.url));
const RESTORER = fileURLToPath(new URL('../../test-fixtures/restorer.js', import.meta.url));

/**
 * Starts test-fixtures/restorer.js at once (the process runs on its own even while this
 * one's event loop might be blocked); `output()` is what it printed ("<queue> <length>" lines).
 */
function restorer(
  url: string,
  queue: string,
): { ready: Promise<void>; output: () => string; stop: () => Promise<void> } {
  const child = spawn(process.execPath, [RESTORER], {
    env: { ...process.env, POOL_FX_BROKER: url, POOL_FX_QUEUE: queue },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) resolve();
    });
    void exited.then(() => reject(new Error(`the restorer exited before it was ready: ${out}`)));
  });
  return {
    ready,
    output: () => out,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe.each(['threads', 'process'] as const)(
  'a CPU-bound task in the %s pool on Redis',
  (pool) => {
    it('is not restored by another worker while it runs past the visibility timeout', async () => {
      const redis = await startRedisServer();
      cleanups.push(() => redis.stop());
      // The fixture builds its app from POOL_FX_BROKER, with visibilityTimeout 1 (s) and restoreIntervalMs 250.
      process.env['POOL_FX_BROKER'] = redis.url;
      const fx = (await import(`${FIXTURE}?${pool}`)) as {
        app: Celeriac;
        burn: Task<[number], { pid: number; threadId: number }>;
      };
      delete process.env['POOL_FX_BROKER'];
      cleanups.push(() => fx.app.close());
      expect(fx.app.options.brokerUrl).toBe(redis.url);

      const queue = 'cpu';
      const a = new Worker(fx.app, {
        pool,
        appModule: FIXTURE,
        queues: [queue],
        concurrency: 1,
        prefetch: 1,
        logger: silentLogger,
      });
      await a.start();
      cleanups.push(() => a.shutdown({ timeout: 1 }));
      const r = fx.burn.applyAsync([4000], {}, { queue });
      // Spawned in the same tick: it is up (some 300 ms) after the first worker took the task.
      const b = restorer(redis.url, queue);
      cleanups.push(b.stop);
      await b.ready;

      const ran = await r.get({ timeout: 20 });
      expect(ran.pid === process.pid && ran.threadId === 0).toBe(false); // it ran in a thread or child
      await new Promise((res) => setTimeout(res, 300));
      // The queue stayed empty: a restore would have put the task back ("cpu 1").
      expect(b.output()).toBe(`ready\n${queue} 0\n`);
    });
  },
);
