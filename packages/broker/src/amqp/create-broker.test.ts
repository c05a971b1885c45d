import { describe, expect, it } from 'vitest';
import { ErrorCodes, isCeleriacError } from '@celeriac/core';
import { createBroker } from '../index.js';
import { AmqpBroker } from './index.js';

describe('createBroker with amqp:// and amqps://', () => {
  it('loads @celeriac/broker/amqp lazily and hands it the options; nothing connects yet', async () => {
    const broker = await createBroker('amqp://guest:guest@127.0.0.1:1//', { maxPriority: 10 });
    expect(broker.kind).toBe('amqp');
    expect(broker.constructor.name).toBe(AmqpBroker.name);
    await broker.close();
    const tls = await createBroker('amqps://guest:guest@127.0.0.1:1//');
    expect(tls.kind).toBe('amqp');
    await tls.close();
  });

  it('validates AmqpBroker options, naming the option', async () => {
    const err: unknown = await createBroker('amqp://localhost', {
      queueType: 'stream' as never,
    }).catch((e: unknown) => e);
    expect(isCeleriacError(err, ErrorCodes.INVALID_OPTION)).toBe(true);
    expect((err as Error).message).toMatch(/queueType/);
    const prio: unknown = await createBroker('amqp://localhost', {
      queueType: 'quorum',
      maxPriority: 10,
    }).catch((e: unknown) => e);
    expect(isCeleriacError(prio, ErrorCodes.INVALID_OPTION)).toBe(true);
  });
});
