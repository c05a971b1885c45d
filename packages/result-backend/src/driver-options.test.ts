import { describe, expect, expectTypeOf, it } from 'vitest';
import { rejectionOf as errorOf, expectInvalidOption as expectInvalid } from '@celeriac/testing';
import { createResultBackend, MemoryResultBackend, type ResultBackendOptionsFor } from './index.js';
import { RedisResultBackend } from './redis/index.js';
import { compileRpcResultBackendOptions } from './rpc/options.js';

describe('result backend options', () => {
  it('memory:// refuses an unknown key, also through createResultBackend', async () => {
    expectInvalid(
      await errorOf(() => new MemoryResultBackend({ resultExpireMs: 5 } as never)),
      'MemoryResultBackend',
      'resultExpireMs',
      'resultExpiresMs',
    );
    expectInvalid(
      await errorOf(() =>
        // @ts-expect-error a memory URL takes MemoryResultBackend's options only
        createResultBackend('memory://strict', { keyPrefix: 'x-' }),
      ),
      'MemoryResultBackend',
      'keyPrefix',
    );
  });

  it('redis:// refuses an unknown key and names the Ms key of a duration', async () => {
    expectInvalid(
      await errorOf(() =>
        // @ts-expect-error a Redis URL takes RedisResultBackend's options only
        createResultBackend('redis://127.0.0.1:1/0', { keyPrefx: 'x-' }),
      ),
      'RedisResultBackend',
      'keyPrefx',
      'keyPrefix',
    );
    const renamed = await errorOf(
      () => new RedisResultBackend({ url: 'redis://127.0.0.1:1/0', resultExpires: 60 } as never),
    );
    expectInvalid(renamed, 'RedisResultBackend', 'resultExpires');
    expect(renamed.details['suggestion']).toBe('resultExpiresMs');
  });

  it('rpc:// refuses an unknown key and a renamed one', async () => {
    expectInvalid(
      await errorOf(() =>
        createResultBackend('rpc://', {
          brokerUrl: 'amqp://127.0.0.1:1//',
          // @ts-expect-error not an RpcResultBackend option
          persistant: true,
        }),
      ),
      'RpcResultBackend',
      'persistant',
      'persistent',
    );
    const renamed = await errorOf(() =>
      compileRpcResultBackendOptions({
        url: 'rpc://',
        brokerUrl: 'amqp://h',
        connectTimeout: 5,
      } as never),
    );
    expectInvalid(renamed, 'RpcResultBackend', 'connectTimeout');
    expect(renamed.details['suggestion']).toBe('connectTimeoutMs');
    expectInvalid(
      await errorOf(() =>
        compileRpcResultBackendOptions({
          url: 'rpc://',
          brokerUrl: 'amqp://h',
          persistent: 'yes' as never,
        }),
      ),
      'RpcResultBackend',
      'persistent',
    );
  });

  it('types the options by URL scheme', () => {
    expectTypeOf<ResultBackendOptionsFor<'redis://h'>>().toHaveProperty('keyPrefix');
    expectTypeOf<ResultBackendOptionsFor<'rpc://'>>().toHaveProperty('replyQueue');
    expectTypeOf<ResultBackendOptionsFor<'memory://'>>().not.toHaveProperty('keyPrefix');
  });
});
