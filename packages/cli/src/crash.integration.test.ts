/**
 * The crash test: a worker SIGKILLed in the middle of 2,000 tasks. With a second worker
 * running, every task's result is stored and none is lost; the test reports how many ran
 * twice (a killed worker's unfinished tasks rerun: at-least-once).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { startRedisServer, uniqueName, type RedisServerHandle } from '@celeriac/testing';
import { startWorkerProcess } from './spawn-cli.test-helper.js';

// A Redis of its own: the short visibility timeout here would restore other tests' messages.
let server: RedisServerHandle;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

describe('crash safety on Redis', () => {
  it('loses nothing when a worker is SIGKILLed mid-run', async () => {
    const redisUrl = server.url;
    const queue = uniqueName('crash');
    const runsKey = uniqueName('runs');
    const env = { CELERIAC_BROKER_URL: redisUrl, FX_RUNS_KEY: runsKey, FX_VISIBILITY_TIMEOUT: '3' };
    const redis = new Redis(redisUrl);
    const app = new Celeriac({
      broker: redisUrl,
      backend: redisUrl,
      logger: silentLogger,
      defaultQueue: queue,
    });
    const record = app.task('fx.record', (n: number, _ms: number) => n);
    const total = 2000;
    try {
      const results = Array.from({ length: total }, (_, i) => record.delay(i, 20));
      await Promise.all(results.map((r) => r.published));

      const victim = await startWorkerProcess(['-Q', queue, '-c', '20', '--prefetch', '40'], env);
      const survivor = await startWorkerProcess(['-Q', queue, '-c', '20', '--prefetch', '40'], env);
      await expect
        .poll(() => redis.llen(runsKey), { timeout: 30_000, interval: 20 })
        .toBeGreaterThan(total / 4);
      victim.child.kill('SIGKILL');
      await victim.exited;

      const values = await Promise.all(results.map((r) => r.get({ timeout: 90 })));
      expect(values).toEqual(Array.from({ length: total }, (_, i) => i));

      const runs = await redis.lrange(runsKey, 0, -1);
      const distinct = new Set(runs);
      expect(distinct.size).toBe(total);
      const ranTwice = runs.length - distinct.size;
      console.log(
        `crash test: ${total} tasks, all results stored; ${ranTwice} ran twice (held by the killed worker)`,
      );
      expect(ranTwice).toBeLessThanOrEqual(40); // at most what the victim held (its prefetch)

      survivor.child.kill('SIGTERM');
      expect(await survivor.exited).toBe(0);
    } finally {
      await redis.del(runsKey);
      await redis.quit();
      await app.close();
    }
  });
});
