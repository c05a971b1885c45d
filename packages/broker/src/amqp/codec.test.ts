import { describe, expect, it } from 'vitest';
import type { BrokerMessage } from '@celeriac/core';
import type { Message } from 'amqplib';
import {
  EXTRA_PROPERTIES_HEADER,
  encodeFieldValue,
  fromAmqpMessage,
  stripDelayDeaths,
  toPublishOptions,
} from './codec.js';

function message(o: Partial<BrokerMessage> = {}): BrokerMessage {
  return {
    body: Buffer.from('[[], {}, {}]'),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { lang: 'js', task: 't', id: 'id-1' },
    properties: { correlation_id: 'id-1', reply_to: 'r', delivery_mode: 2 },
    ...o,
  };
}

/** What amqplib hands a consumer for the publish options (headers already decoded). */
function delivered(options: ReturnType<typeof toPublishOptions>, content: Buffer): Message {
  const plain = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
      const o = v as Record<string, unknown>;
      if ('!' in o) return o['value'];
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, plain(x)]));
    }
    return v;
  };
  return {
    content,
    fields: { deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'q' },
    properties: {
      contentType: options.contentType,
      contentEncoding: options.contentEncoding,
      headers: plain(options.headers),
      deliveryMode: options.deliveryMode,
      priority: options.priority,
      correlationId: options.correlationId,
      replyTo: options.replyTo,
      expiration: options.expiration,
      messageId: undefined,
      timestamp: undefined,
      type: undefined,
      userId: undefined,
      appId: undefined,
      clusterId: undefined,
    } as unknown as Message['properties'],
  };
}

describe('encodeFieldValue', () => {
  it('writes integers as signed 32-bit ints, as py-amqp reads them', () => {
    // amqplib alone would write 300 as 's', which py-amqp reads as a short *string*.
    expect(encodeFieldValue(300)).toEqual({ '!': 'int', value: 300 });
    expect(encodeFieldValue(-1)).toEqual({ '!': 'int', value: -1 });
    expect(encodeFieldValue(2 ** 40)).toEqual({ '!': 'long', value: 2 ** 40 });
    expect(encodeFieldValue(-(2 ** 40))).toEqual({ '!': 'double', value: -(2 ** 40) });
    expect(encodeFieldValue(1.5)).toEqual({ '!': 'double', value: 1.5 });
    expect(encodeFieldValue(12n)).toEqual({ '!': 'int', value: 12 });
  });

  it('keeps strings, booleans, null, bytes; dates become ISO strings; undefined entries go', () => {
    expect(
      encodeFieldValue({
        s: 'é',
        b: true,
        n: null,
        u: undefined,
        x: Buffer.from([1, 2]),
        d: new Date('2025-01-02T03:04:05.000Z'),
        a: [1, 'two', [null]],
      }),
    ).toEqual({
      s: 'é',
      b: true,
      n: null,
      x: Buffer.from([1, 2]),
      d: '2025-01-02T03:04:05.000Z',
      a: [{ '!': 'int', value: 1 }, 'two', [null]],
    });
  });
});

describe('toPublishOptions / fromAmqpMessage', () => {
  it('sets properties as kombu does: delivery mode 2, priority 0, mandatory', () => {
    const o = toPublishOptions(message({ properties: { correlation_id: 'c' } }));
    expect(o).toMatchObject({
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: 'c',
      deliveryMode: 2,
      priority: 0,
      mandatory: true,
    });
    expect(o.replyTo).toBeUndefined();
  });

  it('round-trips headers and properties, unknown properties included', () => {
    const m = message({
      headers: { lang: 'js', task: 't', id: 'id-1', timelimit: [300, null], nested: { a: [1] } },
      properties: {
        correlation_id: 'id-1',
        reply_to: '',
        delivery_mode: 2,
        priority: 7,
        expiration: '60000',
        x_custom: 'kept',
      },
    });
    const o = toPublishOptions(m);
    expect((o.headers as Record<string, unknown>)[EXTRA_PROPERTIES_HEADER]).toEqual({
      x_custom: 'kept',
    });
    const back = fromAmqpMessage(delivered(o, m.body));
    expect(back.headers).toEqual(m.headers);
    expect(back.properties).toEqual(m.properties);
    expect(back.body.equals(m.body)).toBe(true);
  });

  it('reads what py-amqp sends: timestamps as Dates, decimals as numbers', () => {
    const raw = delivered(toPublishOptions(message()), Buffer.from('x'));
    (raw.properties.headers as Record<string, unknown>)['when'] = {
      '!': 'timestamp',
      value: 1_700_000_000,
    };
    (raw.properties.headers as Record<string, unknown>)['price'] = {
      '!': 'decimal',
      value: { places: 2, digits: 1234 },
    };
    const back = fromAmqpMessage(raw);
    expect(back.headers['when']).toEqual(new Date(1_700_000_000_000));
    expect(back.headers['price']).toBe(12.34);
  });
});

describe('stripDelayDeaths', () => {
  it('removes the traces of the delay levels and keeps anyone else’s', () => {
    const only: Record<string, unknown> = {
      id: 'x',
      'x-death': [
        { queue: 'celeriac.delay.03.q', reason: 'expired', count: 1 },
        { queue: 'celeriac.delay.01.q', reason: 'expired', count: 1 },
      ],
      'x-first-death-queue': 'celeriac.delay.03.q',
      'x-first-death-reason': 'expired',
      'x-last-death-queue': 'celeriac.delay.01.q',
    };
    stripDelayDeaths(only);
    expect(only).toEqual({ id: 'x' });

    const mixed: Record<string, unknown> = {
      'x-death': [
        { queue: 'celeriac.delay.00.q', reason: 'expired' },
        { queue: 'work', reason: 'rejected' },
      ],
      'x-first-death-queue': 'work',
    };
    stripDelayDeaths(mixed);
    expect(mixed).toEqual({
      'x-death': [{ queue: 'work', reason: 'rejected' }],
      'x-first-death-queue': 'work',
    });
  });
});
