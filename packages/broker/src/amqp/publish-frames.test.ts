import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  createTaskMessage,
  encodeTaskMessage,
  ErrorCodes,
  type BrokerMessage,
} from '@celeriac/core';
import type { Options } from 'amqplib';
import { toPublishOptions } from './codec.js';
import {
  buildFrames,
  encodeMessageProperties,
  encodeReplyProperties,
  type EncodedProperties,
  type EncodeOverrides,
} from './publish-frames.js';

// amqplib's own encoders: what `channel.publish()` writes, the reference these bytes must match.
const require = createRequire(import.meta.url);
const defs = require('amqplib/lib/defs.js') as {
  BasicPublish: number;
  BasicProperties: number;
  encodeMethod(id: number, channel: number, fields: unknown): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: unknown): Buffer;
};
const args = require('amqplib/lib/api_args.js') as {
  publish(exchange: string, routingKey: string, options: Options.Publish): unknown;
};
const frame = require('amqplib/lib/frame.js') as {
  makeBodyFrame(channel: number, payload: Buffer): Buffer;
};

/** The bytes amqplib 0.10 sends for `ch.publish(exchange, routingKey, content, options)`. */
function amqplibBytes(
  channel: number,
  frameMax: number,
  exchange: string,
  routingKey: string,
  content: Buffer,
  options: Options.Publish,
): Buffer {
  const fields = args.publish(exchange, routingKey, options);
  const parts = [
    defs.encodeMethod(defs.BasicPublish, channel, fields),
    defs.encodeProperties(defs.BasicProperties, channel, content.length, fields),
  ];
  for (let o = 0; o < content.length; o += frameMax - 8) {
    parts.push(frame.makeBodyFrame(channel, content.subarray(o, o + frameMax - 8)));
  }
  return Buffer.concat(parts);
}

/** The bytes `publishEncoded` sends (the body split as amqplib's `sendContent` splits it). */
function ourBytes(
  channel: number,
  frameMax: number,
  exchange: string,
  routingKey: string,
  content: Buffer,
  props: EncodedProperties,
): Buffer {
  const f = buildFrames(channel, frameMax, exchange, routingKey, content, props);
  const parts = [f.head];
  if (f.body) {
    for (let o = 0; o < f.body.length; o += frameMax - 8) {
      parts.push(frame.makeBodyFrame(channel, f.body.subarray(o, o + frameMax - 8)));
    }
  }
  return Buffer.concat(parts);
}

function same(
  message: BrokerMessage,
  extra?: Record<string, unknown>,
  overrides?: EncodeOverrides,
  where: { channel?: number; frameMax?: number; exchange?: string; routingKey?: string } = {},
): void {
  const { channel = 1, frameMax = 131_072, exchange = '', routingKey = 'celery' } = where;
  const options = { ...toPublishOptions(message, extra), ...overrides };
  const expected = amqplibBytes(channel, frameMax, exchange, routingKey, message.body, options);
  const props = encodeMessageProperties(message, extra, overrides);
  expect(ourBytes(channel, frameMax, exchange, routingKey, message.body, props)).toEqual(expected);
  expect(props.fallback()).toEqual(options);
}

function taskMessage(o: Partial<Parameters<typeof createTaskMessage>[0]> = {}): BrokerMessage {
  return encodeTaskMessage(
    createTaskMessage({ name: 'tasks.add', args: [2, 3], replyTo: 'reply-q', ...o }),
  );
}

const wide: Record<string, unknown> = {
  zero: 0,
  minusOne: -1,
  small: 7,
  timelimit: 300,
  int32Max: 0x7fffffff,
  int32Min: -0x80000000,
  beyondInt32: 0x80000000,
  safeMax: Number.MAX_SAFE_INTEGER,
  belowInt32: -0x80000001,
  beyondSafe: 2 ** 60,
  half: 1.5,
  negZero: -0,
  inf: Infinity,
  nan: NaN,
  bigSmall: 12n,
  bigHuge: 2n ** 70n,
  yes: true,
  no: false,
  nothing: null,
  skipped: undefined,
  bytes: Buffer.from([0, 1, 2, 255]),
  u8: new Uint8Array([9, 8]),
  when: new Date('2026-12-04T19:00:00.123Z'),
  empty: '',
  accents: 'déjà vu – ✓',
  emoji: '🥕🥕',
  long: 'x'.repeat(200),
  longUnicode: 'é'.repeat(100),
  list: [1, 'a', null, undefined, [true, 2 ** 40], { k: 'v' }],
  nested: { a: 1, b: { c: [1.25, 'd'] }, skip: undefined },
  '7': 'integer-like keys come first, as in amqplib',
  clé: 'a UTF-8 key',
};

describe('encodeMessageProperties + buildFrames', () => {
  it('writes the same bytes as amqplib for a Celery task message', () => {
    same(taskMessage());
    same(taskMessage({ priority: 5, timeLimit: 300, softTimeLimit: 290, eta: new Date(0) }));
    same(taskMessage({ args: [], kwargs: { a: 'b' }, shadow: 'x', groupId: 'g', groupIndex: 3 }));
  });

  it('writes the same bytes as amqplib for every kind of header value', () => {
    same(taskMessage({ headers: wide }));
    same({ ...taskMessage(), headers: wide });
  });

  it('gives the same bytes again and again (the caches of keys and repeated values)', () => {
    for (let i = 0; i < 40; i++) {
      same(taskMessage({ id: `id-${i}`, name: i % 3 === 0 ? 'tasks.a' : 'tasks.b' }));
      same(taskMessage({ headers: { ...wide, n: i, s: `v${i % 2}` } }));
    }
  });

  it('carries extra headers and properties AMQP has no slot for, as toPublishOptions does', () => {
    const m = taskMessage();
    same(m, { 'x-celeriac-deliver-at': 1_800_000_000_000 });
    same({ ...m, properties: { ...m.properties, custom: 'c', n: 4 } });
    same({ ...m, properties: { ...m.properties, custom: 'c' } }, { extra: true });
  });

  it('writes every AMQP property as amqplib does', () => {
    same({
      body: Buffer.from('{}'),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: {},
      properties: {
        correlation_id: 'c-é',
        reply_to: '',
        delivery_mode: 1,
        priority: 9,
        expiration: '60000',
        message_id: 'm',
        timestamp: 1_764_000_000,
        type: 't',
        user_id: 'guest',
        app_id: 'app',
      },
    });
    const m = taskMessage();
    same({ ...m, properties: { ...m.properties, expiration: 5000 as unknown as string } });
    same(m, undefined, { deliveryMode: 1 });
    same(m, undefined, { deliveryMode: 1, mandatory: false });
  });

  it('frames any body size, channel, exchange and routing key as amqplib does', () => {
    const m = taskMessage();
    same({ ...m, body: Buffer.alloc(0) });
    same({ ...m, body: Buffer.alloc(5000, 7) }, undefined, undefined, { frameMax: 4096 });
    same({ ...m, body: Buffer.alloc(4088, 1) }, undefined, undefined, { frameMax: 4096 });
    same({ ...m, body: Buffer.alloc(200_000, 2) });
    same(m, undefined, undefined, {
      channel: 513,
      exchange: 'celeriac.delay.q.03',
      routingKey: '1.0.1',
    });
  });

  it('refuses what AMQP cannot carry, when encoding rather than when writing', () => {
    const m = taskMessage();
    const code = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (err) {
        return (err as { code?: unknown }).code;
      }
      return undefined;
    };
    expect(code(() => encodeMessageProperties({ ...m, headers: { ['k'.repeat(256)]: 1 } }))).toBe(
      ErrorCodes.PUBLISH_FAILED,
    );
    expect(
      code(() =>
        encodeMessageProperties({ ...m, properties: { correlation_id: 'c'.repeat(256) } }),
      ),
    ).toBe(ErrorCodes.PUBLISH_FAILED);
    expect(code(() => encodeMessageProperties({ ...m, properties: { priority: 300 } }))).toBe(
      ErrorCodes.PUBLISH_FAILED,
    );
    const props = encodeMessageProperties(m);
    expect(code(() => buildFrames(1, 131_072, '', 'q'.repeat(256), m.body, props))).toBe(
      ErrorCodes.PUBLISH_FAILED,
    );
  });
});

describe('encodeReplyProperties', () => {
  it('writes the same bytes as amqplib for an rpc:// reply', () => {
    for (const expiration of [undefined, '86400000']) {
      const reply = {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        correlationId: '6f1c2a0e-1b9d-4b43-9a43-0f3c1c7d2b11',
        ...(expiration === undefined ? {} : { expiration }),
      };
      const body = Buffer.from('{"status": "SUCCESS", "result": null}');
      const options: Options.Publish = { ...reply, deliveryMode: 1 };
      const props = encodeReplyProperties(reply);
      expect(ourBytes(3, 131_072, '', 'amq.gen-abc', body, props)).toEqual(
        amqplibBytes(3, 131_072, '', 'amq.gen-abc', body, options),
      );
      expect(props.fallback()).toEqual(options);
    }
  });
});
