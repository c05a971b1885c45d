import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@celeriac/core';
import { startRedisServer, uniqueName, type RedisServerHandle } from '@celeriac/testing';
import { Celeriac } from './index.js';

let server: RedisServerHandle;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

describe('close() on Redis', () => {
  it('sends every task delayed just before it (no "cannot reach the Redis broker")', async () => {
    const queue = uniqueName('close');
    const app = new Celeriac({ broker: server.url, logger: silentLogger, defaultQueue: queue });
    const add = app.task('tasks.add', (a: number, b: number) => a + b);
    const results = Array.from({ length: 200 }, (_, i) => add.delay(i, 1));
    await app.close();
    const settled = await Promise.allSettled(results.map((r) => r.published));
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
    const reader = new Celeriac({ broker: server.url, logger: silentLogger });
    try {
      expect(await (await reader.broker()).count(queue)).toBe(200);
    } finally {
      await reader.close();
    }
  });
});
