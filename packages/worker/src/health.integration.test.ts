/** The health probe of a worker on Redis: 200 while it runs, 503 when its event loop stalled or it is not running. */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { startHealthServer, Worker, type HealthReport, type HttpEndpoint } from './index.js';

const redisUrl = inject('redisUrl');

describe('startHealthServer', () => {
  let app: Celeriac;
  let worker: Worker;
  let probe: HttpEndpoint;

  beforeAll(async () => {
    app = new Celeriac({ broker: redisUrl, logger: silentLogger, defaultQueue: uniqueName('hz') });
    worker = new Worker(app);
    probe = await startHealthServer(worker, { port: 0, maxEventLoopLagMs: 300 });
  });
  afterAll(async () => {
    await probe?.close();
    await worker?.shutdown({ timeout: 1 });
    await app?.close();
  });

  const get = async (path: string): Promise<[number, HealthReport]> => {
    const res = await fetch(`${probe.url}${path}`);
    return [res.status, (await res.json()) as HealthReport];
  };

  it('is not ready before start, then 200 on every path while running', async () => {
    const [status, body] = await get('/readyz');
    expect(status).toBe(503);
    expect(body.reason).toBe('the worker is idle');
    await worker.start();
    for (const path of ['/livez', '/readyz', '/healthz']) {
      const [s, b] = await get(path);
      expect([path, s]).toEqual([path, 200]);
      expect(b).toMatchObject({ status: 'ok', state: 'running', checks: { broker: { ok: true } } });
    }
  });

  it('fails once after the event loop stalled', async () => {
    const until = performance.now() + 600;
    while (performance.now() < until); // a task hogging the loop
    const [status, body] = await get('/livez');
    expect(status).toBe(503);
    expect(body.checks.eventLoop.ok).toBe(false);
    expect(body.reason).toMatch(/event loop stalled/);
    expect((await get('/livez'))[0]).toBe(200); // caught up since
  });

  it('is 503 once the worker stopped, and 404 elsewhere', async () => {
    await worker.shutdown({ timeout: 1 });
    const [status, body] = await get('/livez');
    expect(status).toBe(503);
    expect(body.reason).toBe('the worker is stopped');
    expect((await fetch(`${probe.url}/metrics`)).status).toBe(404);
  });
});
