/**
 * Two worker processes sharing `rateLimit: '10/s'` for 5 s run at most 10 per second together,
 * measured from the tasks' own start times; per-key limits are independent.
 */
import { describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { startWorkerProcess } from './spawn-cli.test-helper.js';

const redisUrl = inject('redisUrl');

/** The most starts inside any window of `windowMs` (half-open), sliding over every start. */
function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while ((sorted[hi] ?? 0) - (sorted[lo] ?? 0) >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

describe('rate limits across worker processes', () => {
  it('two workers together start at most 10 per second; per-key buckets are independent', async () => {
    const queue = uniqueName('rate');
    const startsKey = uniqueName('starts');
    const env = { CELERIAC_BROKER_URL: redisUrl, FX_STARTS_KEY: startsKey };
    const redis = new Redis(redisUrl);
    const app = new Celeriac({
      broker: redisUrl,
      backend: redisUrl,
      logger: silentLogger,
      defaultQueue: queue,
    });
    const workers = await Promise.all([
      startWorkerProcess(['-Q', queue, '-c', '10', '--loglevel', 'info'], env),
      startWorkerProcess(['-Q', queue, '-c', '10', '--loglevel', 'info'], env),
    ]);
    try {
      const t0 = Date.now();
      const limited = Array.from({ length: 80 }, () => app.sendTask('fx.limited', ['all']));
      const perKey = ['a', 'b'].flatMap((t) =>
        Array.from({ length: 15 }, () => app.sendTask('fx.per_tenant', [t])),
      );
      await Promise.all([...limited, ...perKey].map((r) => r.published));
      await new Promise((r) => setTimeout(r, 5000));
      const starts = (await redis.lrange(startsKey, 0, -1)).map((s) => {
        const [tenant, at] = s.split(':');
        return { tenant: tenant ?? '', at: Number(at) };
      });
      const all = starts.filter((s) => s.tenant === 'all' && s.at - t0 <= 5000).map((s) => s.at);
      // Both workers took part, the limit held in every window, and it was not starved.
      expect(maxInWindow(all, 1000)).toBeLessThanOrEqual(10);
      expect(all.length).toBeGreaterThanOrEqual(40);
      expect(all.length).toBeLessThanOrEqual(51);
      for (const t of ['a', 'b']) {
        const mine = starts.filter((s) => s.tenant === t).map((s) => s.at);
        expect(maxInWindow(mine, 1000)).toBeLessThanOrEqual(5);
        expect(mine.length).toBe(15); // 15 at 5/s take ~3 s: done within the 5 s
      }
      const logs = workers.map((w) => w.log());
      expect(logs.every((l) => l.includes('fx.limited'))).toBe(true);
    } finally {
      for (const w of workers) w.child.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.exited));
      await redis.del(startsKey);
      await redis.quit();
      await app.close();
    }
  });
});
