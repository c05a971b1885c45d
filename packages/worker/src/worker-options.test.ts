import { describe, expect, it } from 'vitest';
import { expectInvalidOption, thrownBy as errorOf } from '@celeriac/testing';
import { Celeriac } from '@celeriac/client';
import { silentLogger, type CeleriacError } from '@celeriac/core';
import { Worker, type WorkerOptions } from './index.js';

const expectInvalid = (err: CeleriacError, option: string, suggestion?: string): void =>
  expectInvalidOption(err, 'Worker', option, suggestion);

describe('Worker options', () => {
  const app = new Celeriac({ broker: 'memory://worker-options', logger: silentLogger });

  it('refuses an unknown key, listing the valid ones when none is near', () => {
    const err = errorOf(() => new Worker(app, { autoscale: [10, 3] } as WorkerOptions));
    expectInvalid(err, 'autoscale');
    expect(err.details['suggestion']).toBeUndefined();
    expect(err.message).toMatch(/use one of: queues, concurrency, prefetch/);
  });

  it('suggests the nearest spelling', () => {
    expectInvalid(
      // @ts-expect-error not a Worker option
      errorOf(() => new Worker(app, { concurency: 4 })),
      'concurency',
      'concurrency',
    );
    expectInvalid(
      errorOf(() => new Worker(app, { queue: ['a'] } as WorkerOptions)),
      'queue',
      'queues',
    );
  });

  it('refuses wrong types and values', () => {
    expectInvalid(
      errorOf(() => new Worker(app, { concurrency: 0 })),
      'concurrency',
    );
    expectInvalid(
      errorOf(() => new Worker(app, { concurrency: 4, prefetch: 2 })),
      'prefetch',
    );
    expectInvalid(
      errorOf(() => new Worker(app, { queues: 'celery' as never })),
      'queues',
    );
    expectInvalid(
      errorOf(() => new Worker(app, { queues: [] })),
      'queues',
    );
    expectInvalid(
      errorOf(() => new Worker(app, { shutdownTimeout: -1 })),
      'shutdownTimeout',
    );
    expectInvalid(
      errorOf(() => new Worker(app, { asyncContext: 'always' as never })),
      'asyncContext',
    );
    expectInvalid(
      errorOf(() => new Worker(app, { pool: 'fibers' as never })),
      'pool',
    );
  });
});
