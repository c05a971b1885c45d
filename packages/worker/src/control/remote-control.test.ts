/**
 * RemoteControl without a server: requests are decoded by their content type, replies encoded
 * with the worker's task serializer (kombu's `Node.reply` uses its mailbox's serializer).
 */
import { describe, expect, it } from 'vitest';
import {
  jsonSerializer,
  msgpackSerializer,
  serializerForContentType,
  silentLogger,
  type BrokerMessage,
  type ControlChannel,
  type SerializerName,
} from '@celeriac/core';
import type { ControlledWorker } from './commands.js';
import { RemoteControl } from './remote-control.js';

/** A channel that hands requests in by hand and keeps what is sent back. */
class FakeChannel implements ControlChannel {
  deliver: (m: BrokerMessage) => void = () => undefined;
  readonly sent: { exchange: string; routingKey: string; message: BrokerMessage }[] = [];
  #onSent: () => void = () => undefined;

  listen(
    _exchange: string,
    onMessage: (m: BrokerMessage) => void,
  ): Promise<{ close(): Promise<void> }> {
    this.deliver = onMessage;
    return Promise.resolve({ close: () => Promise.resolve() });
  }
  send(exchange: string, routingKey: string, message: BrokerMessage): Promise<number> {
    this.sent.push({ exchange, routingKey, message });
    this.#onSent();
    return Promise.resolve(1);
  }
  broadcast(): Promise<void> {
    return Promise.resolve();
  }
  openReplies(): Promise<{ close(): Promise<void> }> {
    return Promise.resolve({ close: () => Promise.resolve() });
  }
  nextSent(): Promise<void> {
    return new Promise((resolve) => (this.#onSent = resolve));
  }
}

/** Only `hostname` is read by a ping; any other method called is a test failure. */
const worker = new Proxy({ hostname: 'celeriac@unit' } as ControlledWorker, {
  get: (target, key) => {
    if (key === 'hostname') return target.hostname;
    throw new Error(`unexpected call of ${String(key)}`);
  },
});

function request(serializer: typeof jsonSerializer | typeof msgpackSerializer): BrokerMessage {
  return {
    body: serializer.encode({
      method: 'ping',
      arguments: {},
      destination: null,
      pattern: null,
      matcher: null,
      ticket: 'the-ticket',
      reply_to: { exchange: 'reply.celery.pidbox', routing_key: 'the-oid' },
    }),
    contentType: serializer.contentType,
    contentEncoding: serializer.contentEncoding,
    headers: { clock: 1, expires: 0 },
    properties: {},
  };
}

describe('RemoteControl serializers', () => {
  it.each([
    ['json', 'json'],
    ['msgpack', 'json'],
    ['json', 'msgpack'],
    ['msgpack', 'msgpack'],
  ] as const)(
    'decodes a %s request and replies in its own %s',
    async (asked: SerializerName, replies: SerializerName) => {
      const channel = new FakeChannel();
      const rc = new RemoteControl(channel, worker, silentLogger, replies);
      await rc.start();
      const sent = channel.nextSent();
      channel.deliver(request(asked === 'json' ? jsonSerializer : msgpackSerializer));
      await sent;
      const [reply] = channel.sent;
      expect(reply).toMatchObject({ exchange: 'reply.celery.pidbox', routingKey: 'the-oid' });
      const expected = replies === 'json' ? jsonSerializer : msgpackSerializer;
      expect(reply?.message.contentType).toBe(expected.contentType);
      expect(reply?.message.headers['ticket']).toBe('the-ticket');
      const body = serializerForContentType(reply!.message.contentType).decode(reply!.message.body);
      expect(body).toEqual({ 'celeriac@unit': { ok: 'pong' } });
      await rc.stop();
    },
  );

  it('ignores a request in a content type it cannot decode', async () => {
    const channel = new FakeChannel();
    const rc = new RemoteControl(channel, worker, silentLogger);
    await rc.start();
    channel.deliver({ ...request(jsonSerializer), contentType: 'application/x-python-serialize' });
    const sent = channel.nextSent();
    channel.deliver(request(jsonSerializer));
    await sent;
    expect(channel.sent).toHaveLength(1);
    await rc.stop();
  });
});
