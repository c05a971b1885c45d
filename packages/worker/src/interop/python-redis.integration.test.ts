/**
 * Interop with real Python Celery (Debian's python3-celery) over Redis, both directions,
 * JSON and msgpack: a Python client's tasks run on a Celeriac worker and Python's
 * AsyncResult.get() returns the value or re-raises the error; a Celeriac client's tasks run
 * on a Python Celery worker and AsyncResult.get() returns the value or rejects with the
 * error's type and message.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac, TaskError, currentTask, type TaskContext } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import {
  requirePythonCelery,
  runPythonScript,
  startCeleryWorker,
  uniqueName,
  type CeleryWorkerHandle,
} from '@celeriac/testing';
import { Worker } from '../index.js';

interface PyOutcome {
  id: string;
  state: string;
  result?: unknown;
  error_type?: string;
  error_module?: string;
  error_message?: string;
  info?: unknown;
}

const redisUrl = inject('redisUrl');

describe.each(['json', 'msgpack'] as const)(
  'Python Celery client → Celeriac worker (%s)',
  (serializer) => {
    const queue = uniqueName('js');
    let app: Celeriac;
    let worker: Worker;
    const env = { brokerUrl: redisUrl, serializer } as const;

    beforeAll(async () => {
      requirePythonCelery();
      app = new Celeriac({ broker: redisUrl, backend: redisUrl, logger: silentLogger });
      app.task('js.add', (a: number, b: number) => a + b);
      app.task('js.fail', (message: string) => {
        const err = new Error(message);
        err.name = 'ValueError';
        throw err;
      });
      app.task('js.echo', function (this: TaskContext, ...args: unknown[]) {
        return {
          args,
          kwargs: this.kwargs,
          retries: this.retries,
          eta: this.eta?.toISOString() ?? null,
        };
      });
      app.task('js.progress', async () => {
        await currentTask().updateState('PROGRESS', { current: 3, total: 10 });
        await new Promise((r) => setTimeout(r, 4000));
        return 'done';
      });
      app.task('js.flaky', function (this: TaskContext, value: string) {
        if (this.retries === 0) this.retry({ countdown: 2, exc: new Error('first try fails') });
        return `${value} after ${this.retries} retry`;
      });
      worker = new Worker(app, { queues: [queue], concurrency: 4 });
      await worker.start();
    });

    afterAll(async () => {
      await worker?.shutdown({ timeout: 5 });
      await app?.close();
    });

    it('returns the value to Python', async () => {
      const out = await runPythonScript<PyOutcome>(
        'interop_client.py',
        ['js.add', '[2, 3]', '--queue', queue, '--serializer', serializer],
        env,
      );
      expect(out).toMatchObject({ state: 'SUCCESS', result: 5 });
    });

    it('passes kwargs, priority and eta through', async () => {
      const out = await runPythonScript<PyOutcome>(
        'interop_client.py',
        [
          'js.echo',
          '[1, "two"]',
          '--kwargs',
          '{"k": [1, 2]}',
          '--queue',
          queue,
          '--serializer',
          serializer,
          '--priority',
          '3',
          '--countdown',
          '1.5',
        ],
        env,
      );
      expect(out.state).toBe('SUCCESS');
      const result = out.result as { args: unknown[]; kwargs: unknown; eta: string | null };
      expect(result.args).toEqual([1, 'two']);
      expect(result.kwargs).toEqual({ k: [1, 2] });
      expect(result.eta).not.toBeNull();
    });

    it('re-raises the error in Python with its type and message', async () => {
      const out = await runPythonScript<PyOutcome>(
        'interop_client.py',
        ['js.fail', '["no good"]', '--queue', queue, '--serializer', serializer],
        env,
      );
      expect(out).toMatchObject({
        state: 'FAILURE',
        error_type: 'ValueError',
        error_module: 'builtins',
        error_message: 'no good',
      });
    });

    it('does not run a task that expired before a worker took it, and Python sees REVOKED', async () => {
      const idle = uniqueName('nobody');
      // Sent to a queue nobody consumes, with a 1 s expiry; then moved to the worker's queue by hand.
      const sent = await runPythonScript<PyOutcome>(
        'interop_client.py',
        [
          'js.add',
          '[1, 1]',
          '--queue',
          idle,
          '--serializer',
          serializer,
          '--expires',
          '1',
          '--no-wait',
        ],
        env,
      );
      await new Promise((r) => setTimeout(r, 1500));
      const { Redis } = await import('ioredis');
      const redis = new Redis(redisUrl);
      const raw = await redis.rpop(idle);
      expect(raw).not.toBeNull();
      await redis.lpush(queue, raw ?? '');
      await redis.quit();
      const r = app.asyncResult(sent.id);
      const err = await r.get({ timeout: 10 }).catch((e: unknown) => e);
      expect((err as TaskError).type).toBe('TaskRevokedError');
      const seen = await runPythonScript<PyOutcome>('interop_result.py', [sent.id], env);
      expect(seen.state).toBe('REVOKED');
    });

    it('a task the Celeriac worker retries shows RETRY, then SUCCESS, in Python', async () => {
      const sent = await runPythonScript<PyOutcome>(
        'interop_client.py',
        ['js.flaky', '["ok"]', '--queue', queue, '--serializer', serializer, '--no-wait'],
        env,
      );
      await expect
        .poll(
          async () => (await runPythonScript<PyOutcome>('interop_result.py', [sent.id], env)).state,
          { timeout: 8000, interval: 100 },
        )
        .toBe('RETRY');
      await expect
        .poll(
          async () => (await runPythonScript<PyOutcome>('interop_result.py', [sent.id], env)).state,
          { timeout: 10_000, interval: 200 },
        )
        .toBe('SUCCESS');
      const done = await runPythonScript<PyOutcome>('interop_result.py', [sent.id], env);
      expect(done.info).toBe('ok after 1 retry');
    });

    it('shows a custom PROGRESS state with its meta in Python', async () => {
      const sent = await runPythonScript<PyOutcome>(
        'interop_client.py',
        ['js.progress', '[]', '--queue', queue, '--serializer', serializer, '--no-wait'],
        env,
      );
      await expect
        .poll(
          async () => (await runPythonScript<PyOutcome>('interop_result.py', [sent.id], env)).state,
          { timeout: 8000, interval: 200 },
        )
        .toBe('PROGRESS');
      const seen = await runPythonScript<PyOutcome>('interop_result.py', [sent.id], env);
      expect(seen.info).toEqual({ current: 3, total: 10 });
    });
  },
);

describe.each(['json', 'msgpack'] as const)(
  'Celeriac client → Python Celery worker (%s)',
  (serializer) => {
    const queue = uniqueName('py');
    let app: Celeriac;
    let py: CeleryWorkerHandle;

    beforeAll(async () => {
      requirePythonCelery();
      py = await startCeleryWorker({ brokerUrl: redisUrl, queues: [queue], serializer });
      app = new Celeriac({
        broker: redisUrl,
        backend: redisUrl,
        logger: silentLogger,
        taskSerializer: serializer,
        defaultQueue: queue,
        // The default, delayedDelivery 'auto': no Celeriac worker consumes this queue, so a
        // countdown task goes to the queue itself with its eta header and Python runs it.
      });
    });

    afterAll(async () => {
      await app?.close();
      await py?.stop();
    });

    it('gets the value back', async () => {
      expect(await app.sendTask<number>('py.add', [2, 3]).get({ timeout: 20 })).toBe(5);
    });

    it('passes kwargs and keeps types', async () => {
      const out = await app
        .sendTask('py.echo', [1, 'two', [3], { four: 4 }], { five: 5.5 }, { priority: 2 })
        .get({ timeout: 20 });
      expect(out).toEqual({ args: [1, 'two', [3], { four: 4 }], kwargs: { five: 5.5 } });
    });

    it("rejects with the Python error's type and message", async () => {
      const err = await app
        .sendTask('py.fail', ['broken'])
        .get({ timeout: 20 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskError);
      expect((err as TaskError).type).toBe('ValueError');
      expect((err as TaskError).module).toBe('builtins');
      expect((err as TaskError).remoteMessage).toBe('broken');
      expect((err as TaskError).traceback).toContain('Traceback');
    });

    it('runs a countdown task after the delay', async () => {
      const started = Date.now();
      expect(await app.sendTask('py.add', [1, 2], {}, { countdown: 1 }).get({ timeout: 20 })).toBe(
        3,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    });
  },
);
