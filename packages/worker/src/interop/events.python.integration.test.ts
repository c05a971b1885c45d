/**
 * Celery's events from a Celeriac worker, as Python Celery's own `app.events.Receiver` (what
 * Flower, `celery events` and celery-exporter are built on) sees them, on Redis and on
 * RabbitMQ: every task event type with the fields celery-exporter and Flower read, the worker's
 * online, heartbeat and offline events, and `enable_events` / `disable_events` from Python.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  Celeriac,
  receiveEvents,
  type CeleryEvent,
  type EventReceiver,
  type TaskContext,
} from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import {
  capturePythonEvents,
  rabbitMqForTests,
  requirePythonCelery,
  runPythonScript,
  startCeleryWorker,
  uniqueName,
  type CeleryWorkerHandle,
  type PythonEnv,
  type PythonEventCapture,
  type PythonSeenEvent,
  type RabbitMqForTests,
} from '@celeriac/testing';
import { Worker } from '../index.js';

const redisUrl = inject('redisUrl');

let rabbit: RabbitMqForTests | undefined;
afterAll(async () => {
  await rabbit?.release();
});

describe.each(['redis', 'amqp'] as const)(
  'Celery events from a Celeriac worker on %s',
  (transport) => {
    const queue = uniqueName('ev');
    const hostname = `${uniqueName('celeriac')}@test`;
    let env: PythonEnv;
    let app: Celeriac;
    let worker: Worker;
    let capture: PythonEventCapture;
    let add: ReturnType<typeof defineTasks>['add'];
    let boomTask: ReturnType<typeof defineTasks>['boom'];
    let flakyTask: ReturnType<typeof defineTasks>['flaky'];
    const flakyRuns = new Map<string, number>();

    const of = (type: string, uuid?: string) => (e: PythonSeenEvent) =>
      e.type === type && e['hostname'] === hostname && (uuid === undefined || e['uuid'] === uuid);

    beforeAll(async () => {
      requirePythonCelery();
      if (transport === 'amqp') rabbit ??= await rabbitMqForTests();
      const brokerUrl = transport === 'amqp' ? rabbit!.url : redisUrl;
      const backend = transport === 'amqp' ? 'rpc://' : redisUrl;
      env = { brokerUrl, backendUrl: backend };
      capture = await capturePythonEvents(env);
      app = new Celeriac({ broker: brokerUrl, backend, logger: silentLogger, defaultQueue: queue });
      ({ add, boom: boomTask, flaky: flakyTask } = defineTasks(app, flakyRuns));
      // Task events off at start, as a Celery worker without -E: Python turns them on.
      worker = new Worker(app, { concurrency: 4, hostname, events: false });
      await worker.start();
    });

    afterAll(async () => {
      await worker?.shutdown({ timeout: 2 });
      await app?.close();
      await capture?.stop();
    });

    it('sends worker-online and a worker-heartbeat every 2 s with Celery fields', async () => {
      const online = await capture.waitFor(of('worker-online'));
      const beat = await capture.waitFor(of('worker-heartbeat'));
      for (const e of [online, beat]) {
        expect(e).toMatchObject({ freq: 2, sw_ident: 'celeriac' });
        for (const field of ['active', 'processed', 'pid', 'clock', 'timestamp', 'utcoffset'])
          expect(typeof e[field], field).toBe('number');
        for (const field of ['sw_ver', 'sw_sys']) expect(typeof e[field], field).toBe('string');
        expect(e['loadavg']).toHaveLength(3);
        // Celery's events State counts the worker alive from its heartbeats (celery_worker_up).
        expect(e['seen']).toMatchObject({ alive: true, freq: 2 });
      }
    });

    it('sends no task event before enable_events, and every task event after', async () => {
      const before = await add.applyAsync([0, 0]).get({ timeout: 10 });
      expect(before).toBe(0);
      const quiet = add.applyAsync([0, 0]);
      await quiet.get({ timeout: 10 });

      const replies = await runPythonScript<Record<string, Record<string, string>>>(
        'interop_control.py',
        ['raw:enable_events', hostname],
        env,
      );
      expect(replies[hostname]).toEqual({ ok: 'task events enabled' });

      const ok = add.applyAsync([2, 3]);
      const boom = boomTask.applyAsync([]);
      const flaky = flakyTask.applyAsync([]);
      const expired = add.applyAsync([1, 1], {}, { expires: new Date(Date.now() - 1000) });
      const unknown = app.sendTask('ev.not-registered', [1]);
      await expect(ok.get({ timeout: 10 })).resolves.toBe(5);
      await expect(boom.get({ timeout: 10 })).rejects.toThrow();
      await expect(flaky.get({ timeout: 10 })).resolves.toBe('second time');

      const received = await capture.waitFor(of('task-received', ok.id));
      expect(received).toMatchObject({
        name: 'ev.add',
        args: '(2, 3)',
        kwargs: '{}',
        root_id: ok.id,
        parent_id: null,
        retries: 0,
        eta: null,
        expires: null,
        queue,
      });
      await capture.waitFor(of('task-started', ok.id));
      const succeeded = await capture.waitFor(of('task-succeeded', ok.id));
      expect(succeeded['result']).toBe('5');
      expect(succeeded['runtime']).toEqual(expect.any(Number));
      // What Celery's events State (celery-exporter's and Flower's) makes of the task: its labels.
      expect(succeeded['seen']).toMatchObject({
        name: 'ev.add',
        hostname,
        queue,
        state: 'SUCCESS',
        result: '5',
      });
      expect(typeof (succeeded['seen'] as Record<string, unknown>)['runtime']).toBe('number');

      const failed = await capture.waitFor(of('task-failed', boom.id));
      expect(failed['exception']).toBe("RangeError('boom')");
      expect(failed['seen']).toMatchObject({ name: 'ev.boom', state: 'FAILURE', queue });
      expect(String(failed['traceback'])).toContain('boom');

      const retried = await capture.waitFor(of('task-retried', flaky.id));
      expect(retried['exception']).toBe("Exception('once more')");
      await capture.waitFor(of('task-succeeded', flaky.id));
      expect(flakyRuns.get(flaky.id)).toBe(2);

      const revoked = await capture.waitFor(of('task-revoked', expired.id));
      expect(revoked).toMatchObject({ expired: true, terminated: false, signum: null });

      const rejected = await capture.waitFor(of('task-rejected', unknown.id));
      expect(rejected['requeue']).toBe(false);

      // Events from one worker arrive in order: those of the tasks before enable_events never came.
      expect(capture.events.some((e) => e['uuid'] === quiet.id)).toBe(false);
    });

    it('stops task events on disable_events', async () => {
      const replies = await runPythonScript<Record<string, Record<string, string>>>(
        'interop_control.py',
        ['raw:disable_events', hostname],
        env,
      );
      expect(replies[hostname]).toEqual({ ok: 'task events disabled' });
      const silent = add.applyAsync([4, 4]);
      await silent.get({ timeout: 10 });
      // A heartbeat sent after the task ran arrives after anything the task could have sent.
      const after = Date.now() / 1000;
      await capture.waitFor(
        (e) => of('worker-heartbeat')(e) && Number(e['timestamp']) > after + 0.1,
      );
      expect(capture.events.some((e) => e['uuid'] === silent.id)).toBe(false);
    });

    it('sends worker-offline when the worker stops', async () => {
      await worker.shutdown({ timeout: 2 });
      const offline = await capture.waitFor(of('worker-offline'));
      expect(offline['sw_ident']).toBe('celeriac');
    });
  },
);

function defineTasks(app: Celeriac, flakyRuns: Map<string, number>) {
  return {
    add: app.task('ev.add', (a: number, b: number) => a + b),
    boom: app.task('ev.boom', (): void => {
      throw new RangeError('boom');
    }),
    flaky: app.task('ev.flaky', function (this: TaskContext) {
      flakyRuns.set(this.id, (flakyRuns.get(this.id) ?? 0) + 1);
      if (this.retries === 0) this.retry({ countdown: 0, exc: new Error('once more') });
      return 'second time';
    }),
  };
}

describe('Celery events between a Node client and a Python worker on Redis', () => {
  const queue = uniqueName('evpy');
  let env: PythonEnv;
  let app: Celeriac;
  let capture: PythonEventCapture;
  let python: CeleryWorkerHandle;
  let receiver: EventReceiver;
  const seen: CeleryEvent[] = [];

  beforeAll(async () => {
    requirePythonCelery();
    env = { brokerUrl: redisUrl, backendUrl: redisUrl };
    capture = await capturePythonEvents(env);
    app = new Celeriac({
      broker: redisUrl,
      logger: silentLogger,
      defaultQueue: queue,
      taskSendSentEvent: true,
    });
    receiver = await receiveEvents(app, (e) => seen.push(e));
    // Solo pool: the tasks run in the worker's main thread, which sends every task event (the
    // threads pool sends task-succeeded from the pool thread, and drops some on Redis).
    python = await startCeleryWorker({ ...env, queues: [queue], extraArgs: ['-E', '-P', 'solo'] });
  });

  afterAll(async () => {
    await receiver?.close();
    await python?.stop();
    await app?.close();
    await capture?.stop();
  });

  it("sends task-sent with Celery's fields, which Python's Receiver reads", async () => {
    const result = app.sendTask('py.add', [20, 22]);
    await expect(result.get({ timeout: 20 })).resolves.toBe(42);
    const sent = await capture.waitFor((e) => e.type === 'task-sent' && e['uuid'] === result.id);
    expect(sent).toMatchObject({
      name: 'py.add',
      args: '(20, 22)',
      kwargs: '{}',
      retries: 0,
      queue,
      routing_key: queue,
      root_id: result.id,
      parent_id: null,
    });
    expect(String(sent['hostname'])).toMatch(/^gen\d+@/);
  });

  it("receives a Python worker's events in Node (receiveEvents)", async () => {
    const first = app.sendTask('py.add', [1, 2]);
    await first.get({ timeout: 20 });
    // A Celery worker buffers its task events and flushes them on a later turn of its loop: the
    // next task's arrival is one, so the first task's events have all come once the second ran.
    await app.sendTask('py.add', [3, 4]).get({ timeout: 20 });
    const typesOf = (id: string): string[] =>
      [...new Set(seen.filter((e) => e.uuid === id).map((e) => e.type))].sort();
    await expect
      .poll(() => typesOf(first.id), { timeout: 15_000 })
      .toEqual(expect.arrayContaining(['task-received', 'task-sent', 'task-succeeded']));
    const done = seen.find((e) => e.uuid === first.id && e.type === 'task-succeeded');
    expect(done?.hostname).toMatch(/^py-/);
    expect(done?.['result']).toBe('3');
  });
});
