import { describe, expect, expectTypeOf, it } from 'vitest';
import { rejectionOf as errorOf, expectInvalidOption as expectInvalid } from '@celeriac/testing';
import { createBroker, MemoryBroker, type BrokerOptionsFor } from './index.js';
import { createCoordination, MemoryCoordination } from './coordination/index.js';
import { RedisCoordination } from './coordination/redis-coordination.js';
import { compileRedisBrokerOptions } from './redis/options.js';
import { compileAmqpBrokerOptions } from './amqp/options.js';
import type { RedisBrokerOptions } from './redis/index.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('RedisBroker options', () => {
  const url = 'redis://127.0.0.1:1/0';

  it('refuses an unknown key with the nearest valid one, also through createBroker', async () => {
    expectInvalid(
      await errorOf(() =>
        compileRedisBrokerOptions({ url, visibilityTimout: 60 } as RedisBrokerOptions),
      ),
      'RedisBroker',
      'visibilityTimout',
      'visibilityTimeout',
    );
    const passed = await errorOf(() =>
      // @ts-expect-error a Redis URL takes RedisBroker's options only
      createBroker(url, { restoreLimt: 5 }),
    );
    expectInvalid(passed, 'RedisBroker', 'restoreLimt', 'restoreLimit');
  });

  it('takes visibilityTimeout in seconds, as kombu, and refuses a value in milliseconds', async () => {
    expect(compileRedisBrokerOptions({ url }).visibilityTimeoutMs).toBe(3_600_000);
    expect(compileRedisBrokerOptions({ url, visibilityTimeout: 30 }).visibilityTimeoutMs).toBe(
      30_000,
    );
    const err = await errorOf(() =>
      compileRedisBrokerOptions({ url, visibilityTimeout: 3_600_000 }),
    );
    expectInvalid(err, 'RedisBroker', 'visibilityTimeout');
    expect(err.message).toMatch(/seconds, as kombu/);
    expect(err.details['value']).toBe(3_600_000);
  });

  it('names the new key of a millisecond option renamed with an Ms suffix', async () => {
    const err = await errorOf(() =>
      compileRedisBrokerOptions({ url, restoreInterval: 250 } as RedisBrokerOptions),
    );
    expectInvalid(err, 'RedisBroker', 'restoreInterval');
    expect(err.details['suggestion']).toBe('restoreIntervalMs');
    expect(err.message).toMatch(/was renamed "restoreIntervalMs"/);
  });

  it('refuses a wrong type, saying what is expected', async () => {
    const err = await errorOf(() => compileRedisBrokerOptions({ url, restoreLimit: '5' as never }));
    expectInvalid(err, 'RedisBroker', 'restoreLimit');
    expect(err.details['expected']).toBe('an integer >= 1');
  });
});

describe('AmqpBroker options', () => {
  const url = 'amqp://127.0.0.1:1//';

  it('refuses an unknown key and a renamed one', async () => {
    expectInvalid(
      await errorOf(() =>
        // @ts-expect-error an AMQP URL takes AmqpBroker's options only
        createBroker(url, { maxPriorty: 10 }),
      ),
      'AmqpBroker',
      'maxPriorty',
      'maxPriority',
    );
    const renamed = await errorOf(() =>
      compileAmqpBrokerOptions({ url, connectTimeout: 300 } as never),
    );
    expectInvalid(renamed, 'AmqpBroker', 'connectTimeout');
    expect(renamed.details['suggestion']).toBe('connectTimeoutMs');
  });

  it('refuses out-of-range values', async () => {
    expectInvalid(
      await errorOf(() => compileAmqpBrokerOptions({ url, maxPriority: 256 })),
      'AmqpBroker',
      'maxPriority',
    );
    expectInvalid(
      await errorOf(() => compileAmqpBrokerOptions({ url, heartbeat: -1 })),
      'AmqpBroker',
      'heartbeat',
    );
  });
});

describe('MemoryBroker options', () => {
  it('refuses an option meant for another driver instead of dropping it', async () => {
    expectInvalid(
      await errorOf(() => new MemoryBroker({ deadLetterLimt: 5 } as never)),
      'MemoryBroker',
      'deadLetterLimt',
      'deadLetterLimit',
    );
    const passed = await errorOf(() =>
      // @ts-expect-error a memory URL takes MemoryBroker's options only
      createBroker('memory://strict-options', { visibilityTimeout: 60 }),
    );
    expectInvalid(passed, 'MemoryBroker', 'visibilityTimeout');
    expectInvalid(
      await errorOf(() => new MemoryBroker({ deadLetterTtlMs: -1 })),
      'MemoryBroker',
      'deadLetterTtlMs',
    );
  });
});

describe('SqliteBroker options', () => {
  const url = `sqlite://${join(tmpdir(), 'celeriac-strict-options.db')}`;

  it('refuses an unknown key with the nearest valid one, typed by the sqlite:// scheme', async () => {
    const err = await errorOf(() =>
      // @ts-expect-error a SQLite URL takes SqliteBroker's options only
      createBroker('sqlite://./never-opened.db', { pollInterval: 100 }),
    );
    expectInvalid(err, 'SqliteBroker', 'pollInterval', 'pollIntervalMs');
    const renamed = await errorOf(() => createBroker(url, { deadLetterTtl: 5 } as never));
    expectInvalid(renamed, 'SqliteBroker', 'deadLetterTtl');
    expect(renamed.details['suggestion']).toBe('deadLetterTtlMs');
    expectInvalid(
      await errorOf(() => createCoordination(url, { redisOptions: {} })),
      'SqliteCoordination',
      'redisOptions',
    );
  });
});

describe('coordination options', () => {
  it('memory and Redis coordination refuse unknown keys', async () => {
    expectInvalid(
      await errorOf(() => new MemoryCoordination({ clok: {} } as never)),
      'MemoryCoordination',
      'clok',
      'clock',
    );
    expectInvalid(
      await errorOf(() => createCoordination('memory://', { redisOptions: {} })),
      'MemoryCoordination',
      'redisOptions',
    );
    expectInvalid(
      await errorOf(
        () => new RedisCoordination({ url: 'redis://127.0.0.1:1', redisOption: {} } as never),
      ),
      'RedisCoordination',
      'redisOption',
      'redisOptions',
    );
  });
});

describe('createBroker option types', () => {
  it('follow the URL scheme', () => {
    expectTypeOf<BrokerOptionsFor<'redis://h:6379'>>().toHaveProperty('visibilityTimeout');
    expectTypeOf<BrokerOptionsFor<'amqp://h'>>().toHaveProperty('maxPriority');
    expectTypeOf<BrokerOptionsFor<'memory://'>>().toHaveProperty('deadLetterTtlMs');
    expectTypeOf<BrokerOptionsFor<'memory://'>>().not.toHaveProperty('visibilityTimeout');
    expectTypeOf<BrokerOptionsFor<'redis://h'>>().not.toHaveProperty('maxPriority');
    expectTypeOf<BrokerOptionsFor<'sqlite://./x.db'>>().toHaveProperty('busyTimeoutMs');
  });
});
