/**
 * `/metrics` of a real worker on Redis after a known run (7 succeed, 2 fail, 1 retried then
 * succeeds, 1 expired, 1 unknown): exact counters and histogram counts, over HTTP.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { Worker } from '../index.js';
import { startMetricsServer, WorkerMetrics } from './index.js';
import type { HttpEndpoint } from '../http-listen.js';
import {
  defineKnownTasks,
  KNOWN_COUNTS,
  scrape,
  sendKnownRun,
  total,
} from './metrics.test-helper.js';

const redisUrl = inject('redisUrl');

describe('WorkerMetrics on Redis', () => {
  const queue = uniqueName('metrics');
  let app: Celeriac;
  let worker: Worker;
  let server: HttpEndpoint;

  beforeAll(async () => {
    app = new Celeriac({
      broker: redisUrl,
      backend: redisUrl,
      logger: silentLogger,
      defaultQueue: queue,
    });
    defineKnownTasks(app);
    worker = new Worker(app, { hostname: 'metrics-w@node-a', concurrency: 4 });
    const metrics = new WorkerMetrics(worker);
    await worker.start();
    server = await startMetricsServer(metrics.registry, { port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await worker?.shutdown({ timeout: 1 });
    await app?.close();
  });

  it('counts a known run exactly', async () => {
    const before = await scrape(server.url);
    expect(total(before, 'celery_worker_up', { hostname: 'node-a' })).toBe(1);
    expect(before.filter((s) => s.name.startsWith('celery_task_'))).toEqual([]);

    await sendKnownRun(app);
    // Results are stored before the last observer steps run: wait for the last counts.
    await expect
      .poll(async () => total(await scrape(server.url), 'celery_task_rejected_total'))
      .toBe(1);
    await expect
      .poll(async () => total(await scrape(server.url), 'celery_task_succeeded_total'))
      .toBe(8);
    const s = await scrape(server.url);
    for (const [name, count] of Object.entries(KNOWN_COUNTS))
      expect([name, total(s, name)]).toEqual([name, count]);
    const labels = { hostname: 'node-a', queue_name: queue };
    expect(total(s, 'celery_task_succeeded_total', { ...labels, name: 'm.ok' })).toBe(7);
    expect(total(s, 'celery_task_succeeded_total', { ...labels, name: 'm.flaky' })).toBe(1);
    expect(
      total(s, 'celery_task_failed_total', { ...labels, name: 'm.fail', exception: 'Exception' }),
    ).toBe(2);
    expect(total(s, 'celery_task_retried_total', { ...labels, name: 'm.flaky' })).toBe(1);
    expect(total(s, 'celery_task_revoked_total', { ...labels, name: 'm.ok' })).toBe(1);
    expect(total(s, 'celery_task_rejected_total', { ...labels, name: 'm.nobody' })).toBe(1);
    // As celery-exporter: the other counters of a label set exist at 0 (task-sent excepted).
    expect(
      s.some(
        (x) =>
          x.name === 'celery_task_failed_total' && x.labels['name'] === 'm.ok' && x.value === 0,
      ),
    ).toBe(true);
    expect(total(s, 'celery_task_sent_total')).toBe(0);
    // Runtime is observed for successes, queue wait for every start.
    expect(total(s, 'celery_task_runtime_count')).toBe(8);
    expect(total(s, 'celery_task_runtime_count', { ...labels, name: 'm.ok' })).toBe(7);
    expect(total(s, 'celery_task_runtime_bucket', { ...labels, name: 'm.ok', le: '+Inf' })).toBe(7);
    expect(total(s, 'celery_task_queue_wait_time_count')).toBe(11);
    expect(total(s, 'celery_queue_length', { queue_name: queue })).toBe(0);
    expect(total(s, 'celery_worker_tasks_active', { hostname: 'node-a' })).toBe(0);
  });

  it('reads celery_queue_length from the broker at each scrape', async () => {
    const other = new Celeriac({ broker: redisUrl, logger: silentLogger, defaultQueue: queue });
    try {
      await worker.shutdown({ timeout: 1 }); // nothing consumes now
      await Promise.all([1, 2, 3].map((n) => other.sendTask('m.ok', [n]).published));
      const s = await scrape(server.url);
      expect(total(s, 'celery_queue_length', { queue_name: queue })).toBe(3);
      expect(total(s, 'celery_worker_up', { hostname: 'node-a' })).toBe(0);
      await (await other.broker()).purge(queue);
    } finally {
      await other.close();
    }
  });

  it('answers 404 off /metrics', async () => {
    const res = await fetch(`${server.url}/other`);
    expect(res.status).toBe(404);
  });
});
