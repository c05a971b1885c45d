import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { createTaskMessage, encodeTaskMessage } from '@celeriac/core';
import { startRabbitMqServer, uniqueName, type RabbitMqServerHandle } from '@celeriac/testing';
import { fromAmqpMessage } from './codec.js';
import {
  encodeMessageProperties,
  encodeReplyProperties,
  publishEncoded,
  supportsEncodedPublish,
} from './publish-frames.js';

let server: RabbitMqServerHandle;
let model: ChannelModel;
beforeAll(async () => {
  server = await startRabbitMqServer();
  model = await connect(server.url);
});
afterAll(async () => {
  await model?.close().catch(() => undefined);
  await server?.stop();
});

/** Resolves with the next `n` messages of the queue (acked). */
async function take(queue: string, n: number): Promise<ConsumeMessage[]> {
  const ch = await model.createChannel();
  const got: ConsumeMessage[] = [];
  await new Promise<void>((resolve) => {
    void ch.consume(queue, (msg) => {
      if (!msg) return;
      got.push(msg);
      ch.ack(msg);
      if (got.length === n) resolve();
    });
  });
  await ch.close();
  return got;
}

function confirmOf(): { cb: (err: unknown) => void; done: Promise<unknown> } {
  let cb!: (err: unknown) => void;
  const done = new Promise<unknown>((resolve) => {
    cb = resolve;
  });
  return { cb, done };
}

describe('publishEncoded on amqplib and RabbitMQ', () => {
  it('finds the amqplib internals it needs (else every publish takes the slower fallback)', async () => {
    const ch = await model.createChannel();
    const cc = await model.createConfirmChannel();
    expect(supportsEncodedPublish(ch)).toBe(true);
    expect(supportsEncodedPublish(cc)).toBe(true);
    await ch.close();
    await cc.close();
  });

  it('delivers a task message, a body larger than a frame and a reply as they were sent', async () => {
    const queue = uniqueName('frames');
    const cc = await model.createConfirmChannel();
    await cc.assertQueue(queue, { durable: false, autoDelete: false });
    const task = encodeTaskMessage(
      createTaskMessage({ name: 'tasks.add', args: [2, 3], replyTo: 'r', priority: 3 }),
    );
    const big = { ...task, body: Buffer.alloc(300_000, 0x61) }; // frame_max is 131,072
    const confirms = [confirmOf(), confirmOf()];
    publishEncoded(cc, '', queue, task.body, encodeMessageProperties(task), confirms[0]!.cb);
    publishEncoded(cc, '', queue, big.body, encodeMessageProperties(big), confirms[1]!.cb);
    const reply = { contentType: 'application/json', contentEncoding: 'utf-8' };
    const props = encodeReplyProperties({ ...reply, correlationId: 'c1', expiration: '60000' });
    publishEncoded(cc, '', queue, Buffer.from('{"status": "SUCCESS"}'), props);
    expect(await Promise.all(confirms.map((c) => c.done))).toEqual([null, null]);
    const [a, b, c] = await take(queue, 3);
    expect(fromAmqpMessage(a!)).toEqual(task);
    expect(fromAmqpMessage(b!)).toEqual(big);
    expect(c!.properties).toMatchObject({
      ...reply,
      correlationId: 'c1',
      expiration: '60000',
      deliveryMode: 1,
    });
    expect(c!.content.toString()).toBe('{"status": "SUCCESS"}');
    await cc.deleteQueue(queue);
    await cc.close();
  });

  it('keeps confirms matched to their messages when a publish is refused before it is written', async () => {
    const queue = uniqueName('frames');
    const cc = await model.createConfirmChannel();
    await cc.assertQueue(queue, { durable: false });
    const m = encodeTaskMessage(createTaskMessage({ name: 't' }));
    const props = encodeMessageProperties(m);
    const first = confirmOf();
    expect(() => publishEncoded(cc, '', 'q'.repeat(256), m.body, props, first.cb)).toThrow();
    const second = confirmOf();
    publishEncoded(cc, '', queue, m.body, props, second.cb);
    expect(await second.done).toBeNull();
    await cc.deleteQueue(queue);
    await cc.close();
    // A closed channel refuses, as amqplib's publish() does.
    expect(() => publishEncoded(cc, '', queue, m.body, props, () => undefined)).toThrow(/closed/i);
  });
});
