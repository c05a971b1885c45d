import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { startRabbitMqServer, uniqueName, type RabbitMqServerHandle } from '@celeriac/testing';
import { AckBatch } from './ack-batch.js';

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

/** A queue holding messages "1"…"n", and a channel that received them all, unacked. */
async function held(n: number): Promise<{
  queue: string;
  ch: Channel;
  batch: AckBatch;
  msgs: ConsumeMessage[];
  acks: [number, boolean][];
}> {
  const queue = uniqueName('acks');
  const admin = await model.createChannel();
  await admin.assertQueue(queue, { durable: false });
  for (let i = 1; i <= n; i++) admin.sendToQueue(queue, Buffer.from(String(i)));
  await admin.close();
  const ch = await model.createChannel();
  // What AckBatch sends, recorded on the real channel (the frames still go to RabbitMQ).
  const acks: [number, boolean][] = [];
  const ack = ch.ack.bind(ch);
  ch.ack = (m, allUpTo) => {
    acks.push([m.fields.deliveryTag, allUpTo === true]);
    ack(m, allUpTo);
  };
  const batch = new AckBatch(ch);
  const msgs: ConsumeMessage[] = [];
  await ch.prefetch(n);
  await new Promise<void>((resolve) => {
    void ch.consume(queue, (m) => {
      if (!m) return;
      batch.received(m);
      msgs.push(m);
      if (msgs.length === n) resolve();
    });
  });
  return { queue, ch, batch, msgs, acks };
}

/** The bodies left in the queue once the channel holding them closed (RabbitMQ requeued them). */
async function leftAfterClose(ch: Channel, queue: string): Promise<string[]> {
  await ch.close();
  const admin = await model.createChannel();
  const left: string[] = [];
  for (;;) {
    const m = await admin.get(queue, { noAck: true });
    if (m === false) break;
    left.push(m.content.toString());
  }
  await admin.deleteQueue(queue);
  await admin.close();
  return left.sort();
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('AckBatch on RabbitMQ', () => {
  it('acks a run of the oldest deliveries with one multiple ack, never one still held', async () => {
    const { queue, ch, batch, msgs, acks } = await held(6);
    for (const i of [1, 0, 2, 4, 5]) batch.ack(msgs[i]!); // "4" (index 3) is still held
    expect(acks).toEqual([]); // nothing before the end of the turn
    await nextTurn();
    const tag = (i: number): number => msgs[i]!.fields.deliveryTag;
    expect(acks).toEqual([
      [tag(2), true],
      [tag(4), false],
      [tag(5), false],
    ]);
    batch.ack(msgs[3]!);
    await nextTurn();
    expect(acks.at(-1)).toEqual([tag(3), true]); // "5" and "6" were acked already
    expect(await leftAfterClose(ch, queue)).toEqual([]);
  });

  it('runs past a requeued delivery, and leaves the held ones to RabbitMQ when the channel closes', async () => {
    const { queue, ch, batch, msgs, acks } = await held(5);
    batch.nack(msgs[1]!, false); // "2" is dropped, not requeued: the queue holds no copy
    batch.ack(msgs[0]!);
    batch.ack(msgs[2]!);
    batch.ack(msgs[4]!);
    await nextTurn();
    expect(acks).toEqual([
      [msgs[2]!.fields.deliveryTag, true],
      [msgs[4]!.fields.deliveryTag, false],
    ]);
    expect(await leftAfterClose(ch, queue)).toEqual(['4']);
  });

  it('tracks only what is held while one delivery is held long, however many others are acked', async () => {
    const { queue, ch, batch, msgs, acks } = await held(60);
    for (let i = 1; i < 60; i += 10) {
      for (let j = i; j < i + 10 && j < 60; j++) batch.ack(msgs[j]!);
      await nextTurn();
    }
    expect(batch.unsettled).toBe(1);
    expect(acks).toHaveLength(59);
    expect(acks.every(([, multiple]) => !multiple)).toBe(true);
    batch.ack(msgs[0]!);
    await nextTurn();
    expect(acks.at(-1)).toEqual([msgs[0]!.fields.deliveryTag, true]);
    expect(batch.unsettled).toBe(0);
    expect(await leftAfterClose(ch, queue)).toEqual([]);
  });

  it('writes at once on flush() (before the channel is closed) and not again later', async () => {
    const { queue, ch, batch, msgs, acks } = await held(3);
    for (const m of msgs) batch.ack(m);
    batch.flush();
    expect(acks).toEqual([[msgs[2]!.fields.deliveryTag, true]]);
    expect(await leftAfterClose(ch, queue)).toEqual([]);
    await nextTurn();
    expect(acks).toHaveLength(1);
  });
});
