import { describe, expect, it } from 'vitest';
import { Celeriac, type TaskContext } from '@celeriac/client';
import { silentLogger, type Logger } from '@celeriac/core';
import { Worker } from './index.js';

describe('worker.observe (in-process task observers)', () => {
  it('tells each step, in Celery event order, on the memory broker, and a throwing observer costs no task', async () => {
    const app = new Celeriac({
      broker: `memory://obs-${Math.random().toString(36).slice(2)}`,
      logger: silentLogger,
    });
    const add = app.task('obs.add', (a: number, b: number) => a + b);
    const boom = app.task('obs.boom', (): void => {
      throw new TypeError('nope');
    });
    const flaky = app.task('obs.flaky', function (this: TaskContext) {
      if (this.retries === 0) this.retry({ countdown: 0 });
      return 'ok';
    });
    const warnings: unknown[] = [];
    const logger: Logger = {
      ...silentLogger,
      warn: (o: unknown) => void warnings.push(o),
      child: () => logger,
    };
    const worker = new Worker(app, { concurrency: 2, logger });
    const steps: string[] = [];
    const stop = worker.observe({
      received: (m) => steps.push(`received ${m.headers.task}`),
      started: (m) => steps.push(`started ${m.headers.task}`),
      succeeded: (m, _q, result, runtime) => {
        expect(runtime).toBeGreaterThanOrEqual(0);
        steps.push(`succeeded ${m.headers.task} ${JSON.stringify(result)}`);
      },
      failed: (m, _q, error) => steps.push(`failed ${m.headers.task} ${(error as Error).name}`),
      retried: (m) => steps.push(`retried ${m.headers.task}`),
      revoked: (m, _q, info) => steps.push(`revoked ${m.headers.task} expired=${info.expired}`),
      rejected: (m, _d, requeue) => steps.push(`rejected ${m?.headers.task} requeue=${requeue}`),
    });
    worker.observe({
      started: () => {
        throw new Error('an observer bug');
      },
    });
    await worker.start();
    try {
      await expect(add.delay(2, 3).get({ timeout: 5 })).resolves.toBe(5);
      await expect(boom.delay().get({ timeout: 5 })).rejects.toThrow();
      await expect(flaky.delay().get({ timeout: 5 })).resolves.toBe('ok');
      const expired = add.applyAsync([1, 1], {}, { expires: new Date(Date.now() - 1000) });
      await expect(expired.get({ timeout: 5 })).rejects.toThrow();
      const unknown = app.sendTask('obs.unknown', []);
      await expect(unknown.get({ timeout: 5 })).rejects.toThrow();
      expect(steps).toEqual([
        'received obs.add',
        'started obs.add',
        'succeeded obs.add 5',
        'received obs.boom',
        'started obs.boom',
        'failed obs.boom TypeError',
        'received obs.flaky',
        'started obs.flaky',
        'retried obs.flaky',
        'received obs.flaky',
        'started obs.flaky',
        'succeeded obs.flaky "ok"',
        'received obs.add',
        'revoked obs.add expired=true',
        'rejected obs.unknown requeue=false',
      ]);
      expect(warnings.some((w) => (w as { step?: string }).step === 'started')).toBe(true);
      stop();
      await add.delay(1, 1).get({ timeout: 5 });
      expect(steps).toHaveLength(15);
    } finally {
      await worker.shutdown({ timeout: 1 });
      await app.close();
    }
  });
});
