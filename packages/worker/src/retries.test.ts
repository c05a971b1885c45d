import { afterEach, describe, expect, it } from 'vitest';
import {
  Celeriac,
  NonRetryableError,
  SoftTimeLimitExceeded,
  TaskError,
  type TaskContext,
} from '@celeriac/client';
import { ManualClock, type Broker, silentLogger } from '@celeriac/core';
import { Worker } from './index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(clock?: ManualClock, random?: () => number): { app: Celeriac; worker: Worker } {
  const app = new Celeriac({
    broker: `memory://r-${Math.random().toString(36).slice(2)}`,
    logger: silentLogger,
    ...(clock ? { clock } : {}),
  });
  const worker = new Worker(app, { concurrency: 2, ...(random ? { random } : {}) });
  cleanups.push(async () => {
    await worker.shutdown({ timeout: 1 });
    await app.close();
  });
  return { app, worker };
}

class ConnectionError extends Error {
  override name = 'ConnectionError';
}

/** Moves the manual clock and lets the broker promote what became due. */
async function advance(clock: ManualClock, broker: Broker, ms: number): Promise<void> {
  clock.advance(ms);
  await broker.count('celery');
}

describe('retries', () => {
  it('retries with backoff and jitter on an injected clock, then stores the last error as FAILURE', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const { app, worker } = setup(clock, () => 0.5);
    const attempts: number[] = [];
    const flaky = app.task(
      'tasks.flaky',
      function (this: TaskContext) {
        attempts.push(this.retries);
        throw new ConnectionError(`attempt ${this.retries}`);
      },
      { autoretryFor: [ConnectionError], retryBackoff: 2, maxRetries: 3 },
    );
    await worker.start();
    const broker = await app.broker();
    const r = flaky.delay();
    await expect.poll(() => r.state()).toBe('RETRY');
    expect(attempts).toEqual([0]);
    const info = await r.info();
    expect(info).toBeInstanceOf(TaskError);
    expect((info as TaskError).type).toBe('ConnectionError');

    // Delays: min(600, 2·2^n) with full jitter at 0.5 → floor(0.5·(c+1)): 1 s, 2 s, 4 s.
    for (const [index, delayMs] of [1000, 2000, 4000].entries()) {
      expect(await broker.countDelayed('celery')).toBe(1);
      await advance(clock, broker, delayMs - 1);
      await new Promise((res) => setTimeout(res, 30));
      expect(attempts).toHaveLength(index + 1); // not yet due
      await advance(clock, broker, 1);
      await expect.poll(() => attempts.length).toBe(index + 2);
    }
    const err = await r.get({ timeout: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect((err as TaskError).type).toBe('ConnectionError');
    expect((err as TaskError).remoteMessage).toBe('attempt 3');
    expect(attempts).toEqual([0, 1, 2, 3]);
    expect(await broker.countDelayed('celery')).toBe(0);
  });

  it('explicit ctx.retry() with a countdown, then success', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const { app, worker } = setup(clock);
    const job = app.task('tasks.eventually', function (this: TaskContext, goal: number) {
      if (this.retries < goal)
        this.retry({ countdown: 10, exc: new Error(`not yet ${this.retries}`) });
      return `done after ${this.retries}`;
    });
    await worker.start();
    const broker = await app.broker();
    const r = job.delay(2);
    await expect.poll(() => r.state()).toBe('RETRY');
    await advance(clock, broker, 10_000);
    await expect
      .poll(async () => (await r.refresh())?.result)
      .toMatchObject({ exc_message: ['not yet 1'] });
    await advance(clock, broker, 10_000);
    expect(await r.get({ timeout: 5 })).toBe('done after 2');
  });

  it('MaxRetriesExceededError when retry() runs out without an error of its own', async () => {
    const { app, worker } = setup();
    const job = app.task(
      'tasks.never',
      function (this: TaskContext) {
        this.retry({ countdown: 0 });
      },
      { maxRetries: 2 },
    );
    await worker.start();
    const err = await job
      .delay()
      .get({ timeout: 5 })
      .catch((e: unknown) => e);
    expect((err as TaskError).type).toBe('MaxRetriesExceededError');
    expect((err as TaskError).module).toBe('celery.exceptions');
  });

  it('NonRetryableError and dontAutoretryFor fail at once', async () => {
    const { app, worker } = setup();
    let runs = 0;
    class Fatal extends ConnectionError {}
    const job = app.task(
      'tasks.fatal',
      (kind: string) => {
        runs++;
        if (kind === 'non-retryable') throw new NonRetryableError('stop');
        throw new Fatal('fatal');
      },
      { autoretryFor: [Error], dontAutoretryFor: [Fatal], defaultRetryDelay: 0 },
    );
    await worker.start();
    const a = await job
      .delay('non-retryable')
      .get({ timeout: 5 })
      .catch((e: unknown) => e);
    expect((a as TaskError).type).toBe('NonRetryableError');
    const b = await job
      .delay('fatal')
      .get({ timeout: 5 })
      .catch((e: unknown) => e);
    expect((b as TaskError).type).toBe('ConnectionError');
    expect(runs).toBe(2);
  });

  it('maxRetries: null retries until it works', async () => {
    const { app, worker } = setup();
    let runs = 0;
    const job = app.task(
      'tasks.stubborn',
      () => {
        runs++;
        if (runs < 6) throw new ConnectionError('down');
        return runs;
      },
      { autoretryFor: ['ConnectionError'], maxRetries: null, defaultRetryDelay: 0 },
    );
    await worker.start();
    expect(await job.delay().get({ timeout: 5 })).toBe(6);
  });
});

describe('time limits (async pool)', () => {
  it('soft limit aborts the signal with SoftTimeLimitExceeded and lets the task clean up', async () => {
    const { app, worker } = setup();
    let cleaned = false;
    const job = app.task(
      'tasks.soft',
      function (this: TaskContext) {
        return new Promise((resolve, reject) => {
          this.signal.addEventListener('abort', () => {
            cleaned = true;
            reject(this.signal.reason as Error);
          });
        });
      },
      { softTimeLimit: 0.2 },
    );
    await worker.start();
    const err = await job
      .delay()
      .get({ timeout: 5 })
      .catch((e: unknown) => e);
    expect(cleaned).toBe(true);
    expect((err as TaskError).type).toBe('SoftTimeLimitExceeded');
    expect((err as TaskError).module).toBe('billiard.exceptions');
    expect(new SoftTimeLimitExceeded(1).name).toBe('SoftTimeLimitExceeded');
  });

  it('hard limit stores TimeLimitExceeded, frees the slot and serves the next task', async () => {
    const { app, worker } = setup();
    const stuck = app.task('tasks.stuck', () => new Promise(() => undefined), { timeLimit: 0.3 });
    const quick = app.task('tasks.quick', () => 'quick');
    await worker.start();
    const started = Date.now();
    const a = stuck.delay();
    const b = stuck.delay(); // concurrency 2: both slots stuck until the limit
    const err = await a.get({ timeout: 5 }).catch((e: unknown) => e);
    expect((err as TaskError).type).toBe('TimeLimitExceeded');
    await b.get({ timeout: 5 }).catch(() => undefined);
    expect(await quick.delay().get({ timeout: 5 })).toBe('quick');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('honours a timelimit header [hard, soft] from the message over the task option', async () => {
    const { app, worker } = setup();
    const job = app.task(
      'tasks.slowish',
      () => new Promise((r) => setTimeout(() => r('late'), 1000)),
      { timeLimit: 10 },
    );
    await worker.start();
    const err = await job
      .applyAsync([], {}, { timeLimit: 0.2 })
      .get({ timeout: 5 })
      .catch((e: unknown) => e);
    expect((err as TaskError).type).toBe('TimeLimitExceeded');
  });
});

describe('acknowledgement', () => {
  it('acksLate: false acks before running (at-most-once)', async () => {
    const { app, worker } = setup();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const job = app.task(
      'tasks.early',
      async () => {
        await gate;
        return 1;
      },
      { acksLate: false },
    );
    await worker.start();
    const r = job.delay();
    await new Promise((res) => setTimeout(res, 50));
    // Already acked while running: a shutdown now would not requeue it.
    await worker.shutdown({ timeout: 0.05 });
    const broker = await app.broker();
    expect(await broker.count('celery')).toBe(0);
    release();
    expect(await r.state()).toBe('PENDING');
  });
});
