/**
 * `EventMetrics` fed by the real Celery events of a worker on Redis (task events on, a client
 * sending `task-sent`), scraped over HTTP after the known run.
 */
import { hostname as osHostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { Worker } from '../index.js';
import { EventMetrics, startMetricsServer } from './index.js';
import type { HttpEndpoint } from '../http-listen.js';
import {
  defineKnownTasks,
  KNOWN_COUNTS,
  scrape,
  sendKnownRun,
  total,
} from './metrics.test-helper.js';

const redisUrl = inject('redisUrl');

describe('EventMetrics from Celery events on Redis', () => {
  const queue = uniqueName('evmetrics');
  let app: Celeriac;
  let monitorApp: Celeriac;
  let worker: Worker;
  let metrics: EventMetrics;
  let server: HttpEndpoint;

  beforeAll(async () => {
    const common = {
      broker: redisUrl,
      backend: redisUrl,
      logger: silentLogger,
      defaultQueue: queue,
    };
    app = new Celeriac({ ...common, taskSendSentEvent: true });
    defineKnownTasks(app);
    monitorApp = new Celeriac(common);
    metrics = await new EventMetrics().start(monitorApp);
    server = await startMetricsServer(metrics.registry, { port: 0 });
    worker = new Worker(app, { hostname: 'ev-w@node-b', concurrency: 4, events: true });
    await worker.start();
  });
  afterAll(async () => {
    await server?.close();
    await worker?.shutdown({ timeout: 1 });
    await metrics?.close();
    await monitorApp?.close();
    await app?.close();
  });

  it('counts the known run from events exactly', async () => {
    await expect
      .poll(async () => total(await scrape(server.url), 'celery_worker_up', { hostname: 'node-b' }))
      .toBe(1);
    await sendKnownRun(app);
    await expect
      .poll(async () => {
        const s = await scrape(server.url);
        return [total(s, 'celery_task_rejected_total'), total(s, 'celery_task_succeeded_total')];
      })
      .toEqual([1, 8]);
    const s = await scrape(server.url);
    for (const [name, count] of Object.entries(KNOWN_COUNTS))
      expect([name, total(s, name)]).toEqual([name, count]);
    const worker = { hostname: 'node-b', queue_name: queue };
    expect(total(s, 'celery_task_succeeded_total', { ...worker, name: 'm.ok' })).toBe(7);
    expect(
      total(s, 'celery_task_failed_total', { ...worker, name: 'm.fail', exception: 'Exception' }),
    ).toBe(2);
    expect(total(s, 'celery_task_retried_total', { ...worker, name: 'm.flaky' })).toBe(1);
    expect(total(s, 'celery_task_revoked_total', { ...worker, name: 'm.ok' })).toBe(1);
    // task-rejected carries no name and no task-received came before it (as in Celery).
    expect(total(s, 'celery_task_rejected_total', { ...worker, name: 'm.nobody' })).toBe(1);
    // task-sent: the 12 the client published (a retry is republished by the worker, without task-sent).
    expect(total(s, 'celery_task_sent_total', { hostname: osHostname(), queue_name: queue })).toBe(
      12,
    );
    expect(total(s, 'celery_task_runtime_count', worker)).toBe(8);
    // Queue wait: every start whose task-sent was seen.
    expect(total(s, 'celery_task_queue_wait_time_count', worker)).toBe(11);
    expect(total(s, 'celery_queue_length', { queue_name: queue })).toBe(0);
  });

  it('sees the worker go offline', async () => {
    await worker.shutdown({ timeout: 1 });
    await expect
      .poll(async () => total(await scrape(server.url), 'celery_worker_up', { hostname: 'node-b' }))
      .toBe(0);
  });
});
