import { describe, expect, it } from 'vitest';
import { ErrorCodes, isCeleriacError } from '@celeriac/core';
import { compileRpcResultBackendOptions, resolveAmqpUrl } from './options.js';

describe('resolveAmqpUrl', () => {
  it('uses the broker URL for a bare rpc://, as Celery uses the broker connection', () => {
    expect(resolveAmqpUrl('rpc://', 'amqp://u:p@h:5672//')).toBe('amqp://u:p@h:5672//');
    expect(resolveAmqpUrl('rpc:///', 'amqps://h')).toBe('amqps://h');
  });

  it('reads a server from rpc://host…, and takes amqp:// as is', () => {
    expect(resolveAmqpUrl('rpc://u:p@h:5673/vh', undefined)).toBe('amqp://u:p@h:5673/vh');
    expect(resolveAmqpUrl('amqp://h//', 'ignored')).toBe('amqp://h//');
  });

  it('explains what is missing, without leaking a password', () => {
    const none = (() => {
      try {
        return resolveAmqpUrl('rpc://', undefined);
      } catch (e) {
        return e;
      }
    })();
    expect(isCeleriacError(none, ErrorCodes.INVALID_OPTION)).toBe(true);
    expect((none as Error).message).toMatch(/brokerUrl/);
    const redis = (() => {
      try {
        return resolveAmqpUrl('rpc://', 'redis://:hunter2@h:6379');
      } catch (e) {
        return e;
      }
    })();
    expect(isCeleriacError(redis, ErrorCodes.UNSUPPORTED_URL)).toBe(true);
    expect((redis as Error).message).not.toContain('hunter2');
  });
});

describe('compileRpcResultBackendOptions', () => {
  it("applies Celery's defaults", () => {
    const o = compileRpcResultBackendOptions({ url: 'rpc://', brokerUrl: 'amqp://h' });
    expect(o).toMatchObject({
      amqpUrl: 'amqp://h',
      ownsReplyQueue: true,
      resultExpiresMs: 86_400_000,
      replyQueueExpiresMs: 86_400_000,
      persistent: false,
      serializer: 'json',
    });
    expect(o.replyQueue).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('names the option that is wrong', () => {
    for (const bad of [
      { resultExpiresMs: 0 },
      { replyQueue: 'amq.gen-x' },
      { serializer: 'pickle' as never },
      { heartbeat: -1 },
      { heartbeat: 1.5 },
    ]) {
      let err: unknown;
      try {
        compileRpcResultBackendOptions({ url: 'rpc://', brokerUrl: 'amqp://h', ...bad });
      } catch (e) {
        err = e;
      }
      expect(isCeleriacError(err, ErrorCodes.INVALID_OPTION)).toBe(true);
      expect((err as Error).message).toContain(Object.keys(bad)[0]!);
    }
  });
});
