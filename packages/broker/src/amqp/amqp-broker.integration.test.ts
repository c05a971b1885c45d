import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type ChannelModel, type GetMessage } from 'amqplib';
import {
  ErrorCodes,
  createTaskMessage,
  encodeTaskMessage,
  isCeleriacError,
  type BrokerMessage,
  type CreateTaskMessageOptions,
  type Delivery,
  type Logger,
} from '@celeriac/core';
import { amqpTarget } from '@celeriac/core/internal';
import { startRabbitMqServer, uniqueName, type RabbitMqServerHandle } from '@celeriac/testing';
import { AmqpBroker, type AmqpBrokerOptions } from './index.js';
import { isAmqpFusedAck, type AmqpFusedAck } from './internal.js';
import { deadLetterQueue, delayExit, delayLevel } from './topology.js';

// These tests raise alarms and inspect the node with rabbitmqctl: always a node of their own.
let server: RabbitMqServerHandle;
let raw: ChannelModel;
beforeAll(async () => {
  server = await startRabbitMqServer();
  raw = await connect(server.url);
});
afterAll(async () => {
  await raw?.close().catch(() => undefined);
  await server?.stop();
});

const brokers: AmqpBroker[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close();
});
function open(o: Partial<AmqpBrokerOptions> = {}): AmqpBroker {
  const b = new AmqpBroker({ url: server.url, ...o });
  brokers.push(b);
  return b;
}

function task(name: string, o: Partial<CreateTaskMessageOptions> = {}): BrokerMessage {
  return encodeTaskMessage(createTaskMessage({ name, args: [2, 3], ...o }));
}

async function eventually(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

interface ListedQueue {
  name: string;
  durable: boolean;
  arguments: Record<string, unknown>;
}

/** rabbitmqctl's listing of this node's queues (arguments as an object). */
async function queues(): Promise<ListedQueue[]> {
  const out = await server.ctl([
    'list_queues',
    'name',
    'durable',
    'arguments',
    '--formatter',
    'json',
  ]);
  return (
    JSON.parse(out) as { name: string; durable: boolean; arguments: [string, string, unknown][] }[]
  ).map((q) => ({ ...q, arguments: Object.fromEntries(q.arguments.map(([k, , v]) => [k, v])) }));
}

/** Messages held unacked on any channel of the node (asked of the channel processes themselves). */
async function unackedOnChannels(): Promise<number> {
  const out = await server.ctl(['list_channels', 'messages_unacknowledged', '--formatter', 'json']);
  return (JSON.parse(out) as { messages_unacknowledged: number }[]).reduce(
    (n, c) => n + c.messages_unacknowledged,
    0,
  );
}

async function ready(queue: string): Promise<number> {
  const ch = await raw.createChannel();
  try {
    return (await ch.checkQueue(queue)).messageCount;
  } finally {
    await ch.close();
  }
}

async function rawGet(queue: string): Promise<GetMessage | false> {
  const ch = await raw.createChannel();
  try {
    return await ch.get(queue, { noAck: true });
  } finally {
    await ch.close();
  }
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (a: unknown, b?: unknown): void => {
    lines.push(typeof a === 'string' ? a : String(b));
  };
  const logger = {
    trace: log,
    debug: log,
    info: log,
    warn: log,
    error: log,
    fatal: log,
    child: () => logger,
    lines,
  };
  return logger;
}

/** A queue with `ids` delivered to a consumer that holds them, and a reply queue. */
async function replySetup(broker: AmqpBroker, name: string, ids: string[]) {
  const q = uniqueName(name);
  const replyQueue = uniqueName(`${name}-to`);
  const ch = await raw.createChannel();
  await ch.assertQueue(replyQueue, { durable: false });
  await ch.close();
  await broker.publishMany(ids.map((id) => ({ queue: q, message: task('t', { id }) })));
  const received: Delivery[] = [];
  const consumer = await broker.consume({
    queues: [q],
    prefetch: ids.length,
    onMessage: (d) => received.push(d),
  });
  await eventually('the tasks', () => received.length === ids.length);
  return { q, replyQueue, received, consumer };
}

describe('AmqpBroker on RabbitMQ', () => {
  it("declares Celery's topology and a dead-letter queue per queue", async () => {
    const broker = open({ maxPriority: 10 });
    const q = uniqueName('topo');
    await broker.declareQueue(q);
    const ch = await raw.createChannel();
    try {
      await ch.checkExchange(q);
      await ch.checkExchange('celeriac.dead');
    } finally {
      await ch.close();
    }
    const listed = await queues();
    expect(listed.find((x) => x.name === q)).toMatchObject({
      durable: true,
      arguments: { 'x-max-priority': 10 },
    });
    expect(listed.find((x) => x.name === deadLetterQueue(q))).toMatchObject({
      durable: true,
      arguments: {
        'x-max-length': 10_000,
        'x-overflow': 'drop-head',
        'x-message-ttl': 604_800_000,
      },
    });
    const bindings = await server.ctl([
      'list_bindings',
      'source_name',
      'destination_name',
      'routing_key',
      '--formatter',
      'json',
    ]);
    expect(JSON.parse(bindings)).toEqual(
      expect.arrayContaining([
        { source_name: q, destination_name: q, routing_key: q },
        { source_name: 'celeriac.dead', destination_name: deadLetterQueue(q), routing_key: q },
      ]),
    );
  });

  it('publishes to the default exchange with the properties and headers Celery sets', async () => {
    const broker = open();
    const q = uniqueName('props');
    const msg = encodeTaskMessage(
      createTaskMessage({
        name: 'tasks.add',
        args: [2, 3],
        replyTo: 'reply-q',
        priority: 5,
        timeLimit: 300,
        softTimeLimit: 200,
      }),
    );
    await broker.publish(q, msg);
    const got = await rawGet(q);
    expect(got).not.toBe(false);
    const m = got as GetMessage;
    expect(m.fields.exchange).toBe('');
    expect(m.fields.routingKey).toBe(q);
    expect(m.properties).toMatchObject({
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: msg.headers['id'],
      replyTo: 'reply-q',
      deliveryMode: 2,
      priority: 5,
    });
    expect(m.properties.headers).toMatchObject({
      task: 'tasks.add',
      timelimit: [300, 200],
      retries: 0,
      lang: 'js',
    });
    expect(m.content.equals(msg.body)).toBe(true);
  });

  it('rejects a publish RabbitMQ nacks (a full queue with reject-publish)', async () => {
    const broker = open({ queueArguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    const q = uniqueName('full');
    await broker.publish(q, task('t'));
    const err: unknown = await broker.publish(q, task('t')).catch((e: unknown) => e);
    expect(isCeleriacError(err, ErrorCodes.PUBLISH_FAILED)).toBe(true);
    expect((err as Error).message).toMatch(/basic\.nack/);
    expect(await broker.count(q)).toBe(1);
  });

  it('rejects a returned publish (its queue was deleted), and declares the queue again next time', async () => {
    const broker = open();
    const q = uniqueName('gone');
    await broker.publish(q, task('t'));
    const ch = await raw.createChannel();
    await ch.deleteQueue(q);
    await ch.close();
    const err: unknown = await broker.publish(q, task('t')).catch((e: unknown) => e);
    expect(isCeleriacError(err, ErrorCodes.PUBLISH_FAILED)).toBe(true);
    expect((err as Error).message).toMatch(/returned.*NO_ROUTE/);
    await broker.publish(q, task('t'));
    expect(await broker.count(q)).toBe(1);
  });

  it('consumes a queue again when RabbitMQ cancels the consumer (queue deleted)', async () => {
    const broker = open();
    const q = uniqueName('cancelled');
    const received: Delivery[] = [];
    const errors: Error[] = [];
    await broker.consume({
      queues: [q],
      prefetch: 5,
      onMessage: (d) => received.push(d),
      onError: (e) => errors.push(e),
    });
    const ch = await raw.createChannel();
    await ch.deleteQueue(q);
    await ch.close();
    await eventually('the queue declared again', async () =>
      (await queues()).some((x) => x.name === q),
    );
    await broker.publish(q, task('t', { id: 'after-cancel' }));
    await eventually('the message', () => received.length === 1);
    expect(received[0]?.message.headers['id']).toBe('after-cancel');
    await received[0]?.ack();
  });

  it('uses a queue declared with other arguments as it is, with a warning', async () => {
    const q = uniqueName('celery-declared');
    const ch = await raw.createChannel();
    await ch.assertQueue(q, { durable: true }); // as Celery declares it, without x-max-priority
    await ch.close();
    const logger = recordingLogger();
    const broker = open({ maxPriority: 10, logger });
    await broker.publish(q, task('t'));
    expect(await broker.count(q)).toBe(1);
    expect(logger.lines.some((l) => /already exists with other arguments/.test(l))).toBe(true);
  });

  it('works on quorum queues: publish, consume, requeue, dead-letter', async () => {
    const broker = open({ queueType: 'quorum' });
    const q = uniqueName('quorum');
    await broker.publishMany(['a', 'b'].map((id) => ({ queue: q, message: task('t', { id }) })));
    expect((await queues()).find((x) => x.name === q)?.arguments).toMatchObject({
      'x-queue-type': 'quorum',
    });
    const received: Delivery[] = [];
    await broker.consume({ queues: [q], prefetch: 1, onMessage: (d) => received.push(d) });
    await eventually('the first message', () => received.length === 1);
    const first = received[0]!;
    expect(first.message.headers['id']).toBe('a');
    await first.requeue();
    // Where a quorum queue puts a requeued message back differs between RabbitMQ versions.
    const again = async (): Promise<Delivery> => {
      for (;;) {
        await eventually('a delivery', () => received.length > 1);
        const d = received.pop()!;
        if (d.message.headers['id'] === 'a') return d;
        await d.deadLetter({ code: ErrorCodes.UNKNOWN_TASK, message: 'no such task' });
      }
    };
    const redelivered = await again();
    expect(redelivered.redelivered).toBe(true);
    await redelivered.ack();
    await eventually('b dead-lettered', async () => (await broker.deadLetters.count(q)) === 1);
    const [dead] = await broker.deadLetters.list(q);
    expect(dead?.message.headers['id']).toBe('b');
    expect(await broker.count(q)).toBe(0);
  });

  it('keeps the dead-letter reason in headers of the dead-letter queue', async () => {
    const broker = open();
    const q = uniqueName('reason');
    await broker.publish(q, task('t', { id: 'dead-1' }));
    const received: Delivery[] = [];
    await broker.consume({ queues: [q], prefetch: 1, onMessage: (d) => received.push(d) });
    await eventually('the message', () => received.length === 1);
    await received[0]!.deadLetter({ code: ErrorCodes.MALFORMED_MESSAGE, message: 'bad body' });
    const m = (await rawGet(deadLetterQueue(q))) as GetMessage;
    expect(m.properties.headers).toMatchObject({
      id: 'dead-1',
      'x-celeriac-dead-code': ErrorCodes.MALFORMED_MESSAGE,
      'x-celeriac-dead-message': 'bad body',
      'x-celeriac-dead-queue': q,
    });
    expect(m.fields.exchange).toBe('celeriac.dead');
  });

  it('fusedAck: replyThenAck sends a transient reply and acks on the delivery channel; the handle names its server', async () => {
    const broker = open();
    const { q, replyQueue, received, consumer } = await replySetup(broker, 'reply', ['r-1']);
    const d = received[0]!;
    const reply = {
      queue: replyQueue,
      body: Buffer.from('{"status":"SUCCESS"}'),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: 'r-1',
      expiration: '60000',
    };
    const fused = fusedAckOf(d);
    // The server the ack lives on: a backend on another server, vhost or user does not use it.
    expect(fused.target).toBe(amqpTarget(server.url));
    expect(fused.target).not.toBe(amqpTarget('amqp://guest@127.0.0.1:1/%2F'));
    expect(await rawGet(replyQueue)).toBe(false);
    await fused.replyThenAck(reply);
    // Settled: no handle any more, and a second reply or ack does nothing.
    expect(d.fusedAck?.()).toBeUndefined();
    expect(fused.replyThenAck(reply)).toBeUndefined();
    await d.ack();
    await eventually('the reply', async () => (await broker.count(replyQueue)) === 1);
    const m = (await rawGet(replyQueue)) as GetMessage;
    expect(m.content.toString()).toBe('{"status":"SUCCESS"}');
    expect(m.properties).toMatchObject({
      correlationId: 'r-1',
      contentType: 'application/json',
      expiration: '60000',
      deliveryMode: 1,
    });
    // The task was acked: once its channel is closed (which would requeue an unacked
    // message) and RabbitMQ had time to requeue, its queue is still empty.
    await consumer.cancel();
    await sleep(300);
    expect(await broker.count(q)).toBe(0);
    expect(await unackedOnChannels()).toBe(0);
  });

  it('delivers a 20-minute countdown on time through the delay levels, never holding it unacked', async () => {
    // 500× faster levels: the 20-minute countdown takes 2.4 s.
    const speedup = 500;
    const broker = open({ delaySpeedup: speedup });
    const q = uniqueName('countdown');
    const countdownMs = 20 * 60_000;
    const publishedAt = Date.now();
    await broker.publish(q, task('t', { id: 'in-20-minutes' }), {
      deliverAt: publishedAt + countdownMs,
    });
    let receivedAt = 0;
    const received: Delivery[] = [];
    await broker.consume({
      queues: [q],
      prefetch: 10,
      onMessage: (d) => {
        receivedAt = Date.now();
        received.push(d);
      },
    });
    // The message waits in RabbitMQ, in the level of its delay's highest bit (2^20 ms).
    expect(await broker.countDelayed(q)).toBe(1);
    expect(await ready(delayLevel(q, 20))).toBe(1);
    expect(await ready(q)).toBe(0);
    expect(await unackedOnChannels()).toBe(0);
    // A consumer with free prefetch would have it at once if it were in the queue: it is not.
    await sleep(500);
    expect(received).toHaveLength(0);
    // It arrives, never early. How late depends on the machine's load (each of the 8 levels it
    // passes adds a few ms of dead-lettering): that is for bench/, not for a timed assertion.
    await eventually('the delayed message', () => received.length === 1, 30_000);
    const tookMs = receivedAt - publishedAt;
    expect(tookMs).toBeGreaterThanOrEqual(countdownMs / speedup);
    const d = received[0]!;
    expect(d.message.headers['id']).toBe('in-20-minutes');
    expect(d.message.headers['x-death']).toBeUndefined(); // the levels leave no trace
    expect(d.redelivered).toBe(false);
    await d.ack();
    expect(await broker.countDelayed(q)).toBe(0);
    const exit = await server.ctl(['list_exchanges', 'name', 'type', '--formatter', 'json']);
    expect(JSON.parse(exit)).toEqual(
      expect.arrayContaining([
        { name: delayExit(q), type: 'fanout' },
        { name: delayLevel(q, 20), type: 'topic' },
      ]),
    );
  });

  it('sends a delay longer than the levels cover round again until it is due', async () => {
    const broker = open({ delayLevels: 4 }); // at most 15 ms per round
    const q = uniqueName('long-delay');
    const deliverAt = Date.now() + 400;
    await broker.publish(q, task('t', { id: 'long' }), { deliverAt });
    const received: { at: number; d: Delivery }[] = [];
    await broker.consume({
      queues: [q],
      prefetch: 1,
      onMessage: (d) => received.push({ at: Date.now(), d }),
    });
    await eventually('the message', () => received.length === 1, 5000);
    expect(received[0]!.at).toBeGreaterThanOrEqual(deliverAt - 20);
    expect(received[0]!.d.message.headers['x-celeriac-deliver-at']).toBeUndefined();
    await received[0]!.d.ack();
  });

  it('pauses publishing while RabbitMQ blocks the connection, and consumers keep acking', async () => {
    const logger = recordingLogger();
    const broker = open({ logger });
    const q = uniqueName('alarm');
    await broker.publishMany(['r1', 'r2'].map((id) => ({ queue: q, message: task('t', { id }) })));
    await server.ctl(['set_vm_memory_high_watermark', '0']);
    try {
      let confirmed = 0;
      const first = broker.publish(q, task('t', { id: 'p0' })).then(() => confirmed++);
      await eventually('the blocked notice', () => logger.lines.some((l) => /blocked/.test(l)));
      const more = broker
        .publishMany(
          Array.from({ length: 200 }, (_, i) => ({
            queue: q,
            message: task('t', { id: `p${i + 1}` }),
          })),
        )
        .then(() => confirmed++);
      // The consuming connection is a different one: it still receives and acks.
      const received: Delivery[] = [];
      await broker.consume({
        queues: [q],
        prefetch: 5,
        onMessage: (d) => {
          received.push(d);
          void d.ack();
        },
      });
      await eventually('the two ready messages', () => received.length === 2);
      // Queries and declarations do not go through the blocked connection either.
      expect(await broker.count(uniqueName('other'))).toBe(0);
      await broker.declareQueue(uniqueName('declared-during-alarm'));
      await sleep(300);
      expect(confirmed).toBe(0);
      await server.ctl(['set_vm_memory_high_watermark', '0.4']);
      await Promise.all([first, more]);
      expect(confirmed).toBe(2);
      await eventually('every message', () => received.length === 203);
    } finally {
      await server.ctl(['set_vm_memory_high_watermark', '0.4']);
    }
  });

  it('during an alarm, a reply blocks only the consuming connection; queries go on, replyThenAck then declines', async () => {
    const logger = recordingLogger();
    const broker = open({ logger });
    const { q, replyQueue, received, consumer } = await replySetup(broker, 'alarm-reply', [
      'a1',
      'a2',
    ]);
    const reply = (id: string) => ({
      queue: replyQueue,
      body: Buffer.from(id),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: id,
    });
    await server.ctl(['set_vm_memory_high_watermark', '0']);
    try {
      // Publishing on the consuming connection during the alarm gets it blocked...
      await fusedAckOf(received[0]!).replyThenAck(reply('a1'));
      await eventually('the consuming connection blocked', () =>
        logger.lines.some((l) => /blocked the .* consume connection/.test(l)),
      );
      // ...but declarations and queries use a connection that never publishes.
      expect(await broker.count(uniqueName('other'))).toBe(0);
      await broker.declareQueue(uniqueName('declared-during-alarm'));
      // A blocked connection is not given more to publish.
      expect(fusedAckOf(received[1]!).replyThenAck(reply('a2'))).toBeUndefined();
    } finally {
      await server.ctl(['set_vm_memory_high_watermark', '0.4']);
    }
    await eventually(
      'the reply, once unblocked',
      async () => (await broker.count(replyQueue)) === 1,
    );
    await received[1]!.ack();
    await consumer.cancel();
    await sleep(300);
    expect(await broker.count(q)).toBe(0);
  });

  it('fails with BROKER_UNAVAILABLE naming the URL, password hidden, when RabbitMQ is unreachable', async () => {
    const broker = open({ url: 'amqp://celery:s3cret@127.0.0.1:1//', connectTimeoutMs: 300 });
    for (const op of [
      () => broker.publish('q', task('t')),
      () => broker.count('q'),
      () => broker.consume({ queues: ['q'], prefetch: 1, onMessage: () => undefined }),
    ]) {
      const err: unknown = await op().catch((e: unknown) => e);
      expect(isCeleriacError(err, ErrorCodes.BROKER_UNAVAILABLE)).toBe(true);
      const text = (err as Error).message;
      expect(text).toContain('amqp://celery:***@127.0.0.1:1//');
      expect(text).not.toContain('s3cret');
      expect(text).toMatch(/Check that RabbitMQ is running/);
    }
  });

  it('remote-control plumbing: hears a fanout exchange (again after the connections drop) and replies through a direct one', async () => {
    const broker = open({ reconnectMaxDelayMs: 200 });
    const mailbox = uniqueName('mailbox');
    const replies = uniqueName('replies');
    const heard: BrokerMessage[] = [];
    const listener = await broker.control.listen(mailbox, (m) => heard.push(m));
    // As kombu's pidbox publishes: a transient message to the fanout exchange.
    const ch = await raw.createChannel();
    const ask = (id: string) =>
      ch.publish(mailbox, '', Buffer.from(`{"method":"ping","n":"${id}"}`), {
        contentType: 'application/json',
        headers: { clock: 1 },
      });
    ask('1');
    await eventually('the request', () => heard.length === 1);
    expect(heard[0]!.body.toString()).toContain('"n":"1"');
    expect(heard[0]!.headers['clock']).toBe(1);

    // A reply queue bound to the reply exchange by its routing key, as kombu's asker declares it.
    const replyQueue = uniqueName('reply-queue');
    await ch.assertExchange(replies, 'direct', { durable: false, autoDelete: false });
    await ch.assertQueue(replyQueue, { durable: false, autoDelete: true });
    await ch.bindQueue(replyQueue, replies, 'oid-1');
    expect(await broker.control.send(replies, 'oid-1', task('t', { id: 'reply-1' }))).toBe(1);
    await eventually('the reply', async () => (await broker.count(replyQueue)) === 1);
    const got = (await rawGet(replyQueue)) as GetMessage;
    expect(got.properties.headers).toMatchObject({ id: 'reply-1' });
    // Nobody bound with that key: RabbitMQ returns it, and send says so.
    await expect(broker.control.send(replies, 'nobody', task('t'))).rejects.toThrow();

    await server.ctl(['close_all_connections', 'test: drop every connection']);
    await ch.close().catch(() => undefined);
    // The shared raw connection went too: the tests after this one get a new one.
    raw = await connect(server.url);
    const ch2 = await raw.createChannel();
    await eventually(
      'the listener back',
      async () => {
        ch2.publish(mailbox, '', Buffer.from('{"method":"ping","n":"2"}'), {
          contentType: 'application/json',
        });
        await sleep(100);
        return heard.some((m) => m.body.toString().includes('"n":"2"'));
      },
      15_000,
    );
    await listener.close();
    await ch2.close();
  });

  it('resumes consuming and publishes unconfirmed messages again after the connections are closed', async () => {
    const broker = open();
    const q = uniqueName('dropped');
    const errors: Error[] = [];
    const seen = new Set<string>();
    await broker.consume({
      queues: [q],
      prefetch: 20,
      onMessage: (d) => {
        seen.add(String(d.message.headers['id']));
        void d.ack();
      },
      onError: (e) => errors.push(e),
    });
    const ids = Array.from({ length: 300 }, (_, i) => `m${i}`);
    const publishing = broker.publishMany(
      ids.map((id) => ({ queue: q, message: task('t', { id }) })),
    );
    await server.ctl(['close_all_connections', 'test: drop every connection']);
    await publishing;
    await eventually('every message after the drop', () => seen.size === ids.length, 15_000);
    expect(errors.some((e) => isCeleriacError(e, ErrorCodes.BROKER_UNAVAILABLE))).toBe(true);
  });
});

/** The delivery's AMQP fused ack, which an unsettled AMQP delivery always has. */
function fusedAckOf(d: Delivery): AmqpFusedAck {
  const fused = d.fusedAck?.();
  if (fused === undefined || !isAmqpFusedAck(fused)) throw new Error('no AMQP fused ack');
  return fused;
}
