/**
 * `celeriac worker --metrics-port --health-port`: the real CLI process on a redis-server of its
 * own, scraped over HTTP after a known run; the health probe says 200 while the broker
 * answers and 503 with a JSON reason once the test stops the broker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startRedisServer, type RedisServerHandle } from '@celeriac/testing';
import { runCli, startWorkerProcess, type WorkerProcess } from './spawn-cli.test-helper.js';

/** The sum of the samples of `name` whose label text contains every `labels` pair. */
function total(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^(\w+)(\{.*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`)))
      sum += Number(m[3]);
  }
  return sum;
}

describe('celeriac worker --metrics-port / --health-port', () => {
  let redis: RedisServerHandle;
  let worker: WorkerProcess;
  let metricsUrl: string;
  let healthUrl: string;
  const queue = 'endpoints';

  beforeAll(async () => {
    redis = await startRedisServer();
    const [metricsPort, healthPort] = [await freePort(), await freePort()];
    metricsUrl = `http://127.0.0.1:${String(metricsPort)}/metrics`;
    healthUrl = `http://127.0.0.1:${String(healthPort)}`;
    worker = await startWorkerProcess(
      ['-Q', queue, '-n', 'cli-w@node-c', '--metrics-port', String(metricsPort)].concat([
        '--health-port',
        String(healthPort),
        '--health-host',
        '127.0.0.1',
      ]),
      { CELERIAC_BROKER_URL: redis.url },
    );
  });
  afterAll(async () => {
    worker?.child.kill('SIGKILL');
    await worker?.exited;
    await redis?.stop();
  });

  it('serves exact counts on /metrics after a known run', async () => {
    const env = { CELERIAC_BROKER_URL: redis.url };
    const call = (args: string[]): Promise<unknown> =>
      runCli(['call', ...args, '-Q', queue, '--wait', '--timeout', '20'], env);
    await Promise.all([1, 2, 3].map((n) => call(['fx.add', '--args', `[${String(n)}, 1]`])));
    await runCli(['call', 'fx.nobody', '-Q', queue], env);
    await expect
      .poll(async () => total(await (await fetch(metricsUrl)).text(), 'celery_task_rejected_total'))
      .toBe(1);
    const text = await (await fetch(metricsUrl)).text();
    const labels = { name: 'fx.add', hostname: 'node-c', queue_name: queue };
    expect(total(text, 'celery_task_received_total', labels)).toBe(3);
    expect(total(text, 'celery_task_started_total', labels)).toBe(3);
    expect(total(text, 'celery_task_succeeded_total', labels)).toBe(3);
    expect(total(text, 'celery_task_failed_total')).toBe(0);
    expect(total(text, 'celery_task_runtime_count', labels)).toBe(3);
    expect(total(text, 'celery_task_queue_wait_time_count', labels)).toBe(3);
    expect(total(text, 'celery_worker_up', { hostname: 'node-c' })).toBe(1);
  });

  it('answers 200 while the broker is up and 503 with a reason once it is stopped', async () => {
    const ok = await fetch(`${healthUrl}/livez`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      status: 'ok',
      worker: 'cli-w@node-c',
      state: 'running',
    });
    expect((await fetch(`${healthUrl}/readyz`)).status).toBe(200);
    await redis.stop();
    await expect
      .poll(async () => (await fetch(`${healthUrl}/livez`)).status, { timeout: 15_000 })
      .toBe(503);
    const body = (await (await fetch(`${healthUrl}/livez`)).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'fail', checks: { broker: { ok: false } } });
    expect(String(body['reason'])).toMatch(/broker/);
  });
});
