import { describe, expect, expectTypeOf, it } from 'vitest';
import { thrownBy as errorOf, expectInvalidOption as expectInvalid } from '@celeriac/testing';
import { ErrorCodes, isCeleriacError, silentLogger, type CeleriacError } from '@celeriac/core';
import { Celeriac } from './app.js';
import type { CeleriacOptions } from './celeriac-options.js';
import type { ApplyOptions, TaskOptions } from './task.js';
import { Retry } from './task-errors.js';

const app = (options: CeleriacOptions = {}): Celeriac =>
  new Celeriac({ broker: `memory://strict-${Math.random()}`, logger: silentLogger, ...options });

describe('Celeriac options', () => {
  it('refuses an unknown key, with the nearest spelling', () => {
    const err = errorOf(() => new Celeriac({ brokr: 'redis://localhost' } as CeleriacOptions));
    expectInvalid(err, 'Celeriac', 'brokr', 'broker');
    expect(err.details['value']).toBe('redis://localhost');
    expectInvalid(
      // @ts-expect-error not a Celeriac option
      errorOf(() => new Celeriac({ resultExpire: 60 })),
      'Celeriac',
      'resultExpire',
      'resultExpires',
    );
  });

  it('refuses wrong types and values', () => {
    expectInvalid(
      errorOf(() => app({ taskSerializer: 'pickle' as 'json' })),
      'Celeriac',
      'taskSerializer',
    );
    expectInvalid(
      errorOf(() => app({ resultExpires: -1 })),
      'Celeriac',
      'resultExpires',
    );
    expectInvalid(
      errorOf(() => app({ routes: { 'a.*': 1 as never } })),
      'Celeriac',
      'routes',
    );
    expectInvalid(
      errorOf(() => app({ delayedDelivery: 'later' as 'broker' })),
      'Celeriac',
      'delayedDelivery',
    );
  });

  it('hands brokerOptions to the driver, which refuses what it does not know', async () => {
    const a = app({ brokerOptions: { deadLetterLimt: 5 } as never });
    const err: unknown = await a.broker().catch((e: unknown) => e);
    expect(isCeleriacError(err, ErrorCodes.INVALID_OPTION)).toBe(true);
    expectInvalid(err as CeleriacError, 'MemoryBroker', 'deadLetterLimt', 'deadLetterLimit');
    await a.close();
    const b = app({ backendOptions: { resultExpiresMS: 5 } as never });
    const err2: unknown = await b.resultBackend().catch((e: unknown) => e);
    expectInvalid(
      err2 as CeleriacError,
      'MemoryResultBackend',
      'resultExpiresMS',
      'resultExpiresMs',
    );
    await b.close();
  });
});

describe('task options', () => {
  it('refuses an unknown key when the task is defined, naming the task and the nearest key', () => {
    const a = app();
    const err = errorOf(() =>
      a.task('tasks.add', (x: number) => x, { maxRetry: 3 } as TaskOptions),
    );
    expectInvalid(err, 'task "tasks.add"', 'maxRetry', 'maxRetries');
    expectInvalid(
      // @ts-expect-error not a task option
      errorOf(() => a.task('tasks.b', () => 1, { acks_late: true })),
      'task "tasks.b"',
      'acks_late',
      'acksLate',
    );
    void a.close();
  });

  it('refuses wrong types, nested unique keys included', () => {
    const a = app();
    expectInvalid(
      errorOf(() => a.task('t1', () => 1, { maxRetries: -1 })),
      'task "t1"',
      'maxRetries',
    );
    expectInvalid(
      errorOf(() => a.task('t2', () => 1, { rateLimit: '10/d' })),
      'task "t2"',
      'rateLimit',
    );
    expectInvalid(
      errorOf(() => a.task('t3', () => 1, { acksLate: 'yes' as never })),
      'task "t3"',
      'acksLate',
    );
    expectInvalid(
      errorOf(() => a.task('t4', () => 1, { unique: { ttl: 5, keys: () => 'k' } as never })),
      'task "t4"',
      'unique.keys',
      'key',
    );
    expectInvalid(
      errorOf(() => a.task('t5', () => 1, { unique: {} as never })),
      'task "t5"',
      'unique.ttl',
    );
    expect(() =>
      a.task('ok', () => 1, { maxRetries: null, retryBackoff: 2, expires: new Date() }),
    ).not.toThrow();
    void a.close();
  });
});

describe('applyAsync and sendTask options', () => {
  it('refuses an unknown key with the nearest spelling', () => {
    const a = app();
    const t = a.task('t', (n: number) => n);
    expectInvalid(
      errorOf(() => t.applyAsync([1], {}, { countDown: 5 } as ApplyOptions)),
      'applyAsync',
      'countDown',
      'countdown',
    );
    expectInvalid(
      // @ts-expect-error not an applyAsync option
      errorOf(() => t.applyAsync([1], {}, { task_id: 'x' })),
      'applyAsync',
      'task_id',
      'taskId',
    );
    expectInvalid(
      errorOf(() => a.sendTask('t', [], {}, { priorty: 1 } as ApplyOptions)),
      'sendTask',
      'priorty',
      'priority',
    );
    void a.close();
  });

  it('refuses wrong types and out-of-range values', () => {
    const a = app();
    const t = a.task('t', (n: number) => n);
    expectInvalid(
      errorOf(() => t.applyAsync([1], {}, { countdown: -1 })),
      'applyAsync',
      'countdown',
    );
    expectInvalid(
      errorOf(() => t.applyAsync([1], {}, { priority: 256 })),
      'applyAsync',
      'priority',
    );
    expectInvalid(
      errorOf(() => t.applyAsync([1], {}, { eta: 'tomorrow' })),
      'applyAsync',
      'eta',
    );
    expectInvalid(
      errorOf(() => t.applyAsync([1], {}, { countdown: 1, eta: new Date() })),
      'applyAsync',
      'countdown',
    );
    void a.close();
  });

  it('types: a wrong key does not compile', () => {
    expectTypeOf<ApplyOptions>().toHaveProperty('countdown');
    expectTypeOf<ApplyOptions>().not.toHaveProperty('countDown');
    expectTypeOf<TaskOptions>().not.toHaveProperty('maxRetry');
  });
});

describe('get(), revoke() and inspect() options', () => {
  it('refuse an unknown key with the nearest spelling', async () => {
    const a = app();
    const r = a.task('t', () => 1).delay();
    await expect(r.get({ timout: 1 } as never)).rejects.toMatchObject({
      code: ErrorCodes.INVALID_OPTION,
      details: { option: 'timout', suggestion: 'timeout' },
    });
    await expect(a.control.revoke('x', { terminte: true } as never)).rejects.toMatchObject({
      code: ErrorCodes.INVALID_OPTION,
      details: { option: 'terminte', suggestion: 'terminate' },
    });
    expectInvalid(
      errorOf(() => a.control.inspect({ destinations: [] } as never)),
      'inspect()',
      'destinations',
      'destination',
    );
    await a.close();
  });
});

describe('retry() options', () => {
  it('refuse an unknown key, so a misspelt countdown does not retry on the default delay', () => {
    expectInvalid(
      errorOf(() => new Retry({ countDown: 5 } as never)),
      'retry()',
      'countDown',
      'countdown',
    );
    expectInvalid(
      errorOf(() => new Retry({ maxRetries: -2 })),
      'retry()',
      'maxRetries',
    );
    expect(new Retry({ countdown: 5, maxRetries: null }).options.countdown).toBe(5);
  });
});
