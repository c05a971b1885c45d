import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  isCeleriacError,
  type Broker,
  type BrokerMessage,
  type DeadLetterReason,
  type Delivery,
  type MessageProperties,
} from '@celeriac/core';
import { uniqueName } from '../unique.js';

/** One broker instance under test and whatever must be torn down with it. */
export interface BrokerFixture {
  broker: Broker;
  /** Closes the broker (which may already be closed) and what the fixture started for it. */
  close(): Promise<void>;
}

export interface BrokerConformanceOptions {
  /**
   * The transport's priority order: `lower-first` on memory and Redis (0 before 9, as kombu),
   * `higher-first` on AMQP.
   */
  priority: 'lower-first' | 'higher-first';
  /**
   * How late after its `deliverAt` a delayed message may arrive, in milliseconds.
   * @default 1500
   */
  delayToleranceMs?: number;
  /**
   * How early before its `deliverAt` a delayed message may arrive, in milliseconds: the skew
   * allowed between the broker's clock and the test's.
   * @default 20
   */
  clockSkewMs?: number;
  /**
   * How long to watch before concluding that nothing more arrives, in milliseconds.
   * @default 300
   */
  quietMs?: number;
  /**
   * How long to wait for something that should happen, in milliseconds.
   * @default 5000
   */
  timeoutMs?: number;
}

/**
 * The contract tests every `Broker` implementation passes (DESIGN.md §2). `factory` is called
 * once per broker instance a test needs (some tests use two, as a client and a worker would);
 * every instance it returns must reach the same queues. Queue names are unique per test, so
 * the suite can run against a shared server.
 */
export function brokerConformance(
  name: string,
  factory: () => Promise<BrokerFixture>,
  options: BrokerConformanceOptions,
): void {
  const delayToleranceMs = options.delayToleranceMs ?? 1500;
  const clockSkewMs = options.clockSkewMs ?? 20;
  const quietMs = options.quietMs ?? 300;
  const timeoutMs = options.timeoutMs ?? 5000;

  describe(`Broker conformance: ${name}`, () => {
    const fixtures: BrokerFixture[] = [];
    let broker: Broker;

    const open = async (): Promise<Broker> => {
      const f = await factory();
      fixtures.push(f);
      return f.broker;
    };

    beforeEach(async () => {
      broker = await open();
    });

    afterEach(async () => {
      for (const f of fixtures.splice(0).reverse()) await f.close();
    });

    const eventually = async (
      what: string,
      predicate: () => boolean | Promise<boolean>,
      ms = timeoutMs,
    ): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!(await predicate())) {
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await sleep(10);
      }
    };

    /** Consumes into an array; `auto` acks each delivery as it arrives. */
    const collect = async (
      b: Broker,
      queues: string[],
      prefetch: number,
      auto: 'ack' | 'hold' = 'hold',
    ): Promise<{ received: Delivery[]; cancel: () => Promise<void> }> => {
      const received: Delivery[] = [];
      const consumer = await b.consume({
        queues,
        prefetch,
        onMessage: (d) => {
          received.push(d);
          if (auto === 'ack') void d.ack();
        },
      });
      return { received, cancel: () => consumer.cancel() };
    };

    const ids = (ds: readonly Delivery[]): string[] => ds.map(idOf);

    it('round-trips body bytes, content type, headers and properties', async () => {
      const q = uniqueName('conf-roundtrip');
      await broker.declareQueue(q);
      const body = Buffer.concat([
        Buffer.from([0, 1, 0x7f, 0x80, 0xfe, 0xff]),
        Buffer.from('héllo ✓', 'utf8'),
      ]);
      const headers: Record<string, unknown> = {
        lang: 'js',
        task: 'conformance.roundtrip',
        id: 'rt-1',
        retries: 2,
        timelimit: [30, null],
        eta: null,
        nested: { list: [1, 'two', { three: true }], empty: {} },
        unicode: 'ünïcødé ✓ 日本',
        x_custom_header: 'kept',
      };
      const properties: MessageProperties = {
        correlation_id: 'rt-1',
        reply_to: 'reply-queue',
        delivery_mode: 2,
        x_custom_property: 'kept',
      };
      const message: BrokerMessage = {
        body,
        contentType: 'application/x-msgpack',
        contentEncoding: 'binary',
        headers,
        properties,
      };
      const expectedHeaders = structuredClone(headers);
      const expectedProperties = structuredClone(properties);
      await broker.publish(q, message);
      // The broker holds its own copy: what the publisher does next must not reach the consumer.
      (headers['nested'] as { list: unknown[] }).list.push('mutated');
      headers['task'] = 'mutated';
      properties.reply_to = 'mutated';

      const { received } = await collect(broker, [q], 1);
      await eventually('the message', () => received.length === 1);
      const d = received[0] as Delivery;
      expect(d.queue).toBe(q);
      expect(typeof d.deliveryTag).toBe('string');
      expect(d.deliveryTag).not.toBe('');
      expect(d.redelivered).toBe(false);
      expect(Buffer.isBuffer(d.message.body)).toBe(true);
      expect(d.message.body.equals(body)).toBe(true);
      expect(d.message.contentType).toBe('application/x-msgpack');
      expect(d.message.contentEncoding).toBe('binary');
      expect(d.message.headers).toEqual(expectedHeaders);
      expect(d.message.properties).toMatchObject(expectedProperties);
      await d.ack();
    });

    it('publishMany publishes to several queues, in order', async () => {
      const qa = uniqueName('conf-many-a');
      const qb = uniqueName('conf-many-b');
      await broker.publishMany([]);
      await broker.publishMany([
        { queue: qa, message: msg('a1') },
        { queue: qb, message: msg('b1') },
        { queue: qa, message: msg('a2') },
        { queue: qb, message: msg('b2') },
        { queue: qa, message: msg('a3') },
      ]);
      expect(await broker.count(qa)).toBe(3);
      expect(await broker.count(qb)).toBe(2);
      const { received } = await collect(broker, [qa], 10, 'ack');
      await eventually('three messages', () => received.length === 3);
      expect(ids(received)).toEqual(['a1', 'a2', 'a3']);
    });

    it('never holds more than prefetch unsettled deliveries, and refills after an ack', async () => {
      const q = uniqueName('conf-prefetch');
      const all = Array.from({ length: 10 }, (_, i) => `m${i}`);
      await broker.publishMany(all.map((id) => ({ queue: q, message: msg(id) })));
      const unsettled = new Set<Delivery>();
      const received: Delivery[] = [];
      let most = 0;
      await broker.consume({
        queues: [q],
        prefetch: 3,
        onMessage: (d) => {
          received.push(d);
          unsettled.add(d);
          most = Math.max(most, unsettled.size);
        },
      });
      await eventually('three deliveries', () => received.length === 3);
      await sleep(quietMs);
      expect(received).toHaveLength(3);

      const first = received[0] as Delivery;
      unsettled.delete(first);
      await first.ack();
      await eventually('a fourth delivery after an ack', () => received.length === 4);
      await sleep(quietMs);
      expect(received).toHaveLength(4);

      await eventually('all ten deliveries', async () => {
        for (const d of [...unsettled]) {
          unsettled.delete(d);
          await d.ack();
        }
        return received.length === 10;
      });
      expect(most).toBeLessThanOrEqual(3);
      expect(ids(received).sort()).toEqual([...all].sort());
      expect(await broker.count(q)).toBe(0);
    });

    it('requeue delivers the message again with redelivered=true', async () => {
      const q = uniqueName('conf-requeue');
      await broker.publish(q, msg('r1', { headers: { extra: [1, 2] } }));
      const { received } = await collect(broker, [q], 1);
      await eventually('the first delivery', () => received.length === 1);
      const first = received[0] as Delivery;
      expect(first.redelivered).toBe(false);
      await first.requeue();
      await eventually('the redelivery', () => received.length === 2);
      const again = received[1] as Delivery;
      expect(idOf(again)).toBe('r1');
      expect(again.redelivered).toBe(true);
      expect(again.message.headers).toEqual(first.message.headers);
      expect(again.message.body.equals(first.message.body)).toBe(true);
      await again.ack();
      await sleep(quietMs);
      expect(received).toHaveLength(2);
      expect(await broker.count(q)).toBe(0);
    });

    it('dead-letters with a reason; list, replay, purge and count the dead letters', async () => {
      const q = uniqueName('conf-dlq');
      const reason: DeadLetterReason = {
        code: ErrorCodes.UNKNOWN_TASK,
        message: 'no task named conformance.nope',
      };
      await broker.publishMany(['d1', 'd2', 'd3'].map((id) => ({ queue: q, message: msg(id) })));
      const { received } = await collect(broker, [q], 3);
      await eventually('three deliveries', () => received.length === 3);
      const before = Date.now();
      for (const d of received) await d.deadLetter(reason);
      const after = Date.now();

      expect(await broker.deadLetters.count(q)).toBe(3);
      expect(await broker.count(q)).toBe(0);
      const listed = await broker.deadLetters.list(q);
      expect(listed.map((dl) => dl.message.headers['id']).sort()).toEqual(['d1', 'd2', 'd3']);
      for (const dl of listed) {
        expect(dl.queue).toBe(q);
        expect(dl.reason).toEqual(reason);
        expect(typeof dl.id).toBe('string');
        expect(dl.deadAt).toBeGreaterThanOrEqual(before - 60_000);
        expect(dl.deadAt).toBeLessThanOrEqual(after + 60_000);
        expect(dl.message.body.equals(msg(String(dl.message.headers['id'])).body)).toBe(true);
      }
      expect(await broker.deadLetters.list(q, { limit: 2 })).toHaveLength(2);

      const d2 = listed.find((dl) => dl.message.headers['id'] === 'd2');
      expect(d2).toBeDefined();
      expect(await broker.deadLetters.replay(q, [(d2 as { id: string }).id])).toBe(1);
      expect(await broker.deadLetters.count(q)).toBe(2);
      await eventually('the replayed message', () => received.length === 4);
      expect(idOf(received[3] as Delivery)).toBe('d2');
      await (received[3] as Delivery).ack();

      expect(await broker.deadLetters.replay(q, ['no-such-dead-letter'])).toBe(0);
      expect(await broker.deadLetters.purge(q)).toBe(2);
      expect(await broker.deadLetters.count(q)).toBe(0);
      expect(await broker.deadLetters.list(q)).toEqual([]);
      expect(await broker.deadLetters.replay(q)).toBe(0);
    });

    it('replay without ids sends every dead letter back', async () => {
      const q = uniqueName('conf-dlq-all');
      await broker.publishMany(['x1', 'x2'].map((id) => ({ queue: q, message: msg(id) })));
      const { received, cancel } = await collect(broker, [q], 2);
      await eventually('two deliveries', () => received.length === 2);
      await cancel();
      for (const d of received)
        await d.deadLetter({ code: ErrorCodes.MALFORMED_MESSAGE, message: 'bad' });
      expect(await broker.deadLetters.replay(q)).toBe(2);
      expect(await broker.deadLetters.count(q)).toBe(0);
      expect(await broker.count(q)).toBe(2);
    });

    it(`serves priorities ${options.priority === 'lower-first' ? 'lower number first' : 'higher number first'}, FIFO within one priority`, async () => {
      const q = uniqueName('conf-priority');
      await broker.declareQueue(q);
      // Priorities 0/3/6/9 fall in distinct levels on every transport (kombu's Redis steps).
      const published: [string, number | undefined][] = [
        ['p6a', 6],
        ['p0a', 0],
        ['p9a', 9],
        ['unset', undefined],
        ['p3a', 3],
        ['p0b', 0],
        ['p6b', 6],
      ];
      await broker.publishMany(
        published.map(([id, p]) => ({ queue: q, message: msg(id, { priority: p }) })),
      );
      expect(await broker.count(q)).toBe(published.length);
      const { received } = await collect(broker, [q], 1, 'ack');
      await eventually('every message', () => received.length === published.length);
      // A message without a priority is served as priority 0, Celery's default.
      const expected =
        options.priority === 'lower-first'
          ? ['p0a', 'unset', 'p0b', 'p3a', 'p6a', 'p6b', 'p9a']
          : ['p9a', 'p6a', 'p6b', 'p3a', 'p0a', 'unset', 'p0b'];
      expect(ids(received)).toEqual(expected);
    });

    it('holds a deliverAt message until it is due, then delivers it', async () => {
      const q = uniqueName('conf-delay');
      const deliverAt = Date.now() + 700;
      await broker.publish(q, msg('later'), { deliverAt });
      expect(await broker.countDelayed(q)).toBe(1);
      expect(await broker.count(q)).toBe(0);
      let receivedAt = 0;
      const received: Delivery[] = [];
      await broker.consume({
        queues: [q],
        prefetch: 1,
        onMessage: (d) => {
          receivedAt = Date.now();
          received.push(d);
          void d.ack();
        },
      });
      await sleep(300);
      expect(received).toHaveLength(0);
      await eventually(
        'the delayed message',
        () => received.length === 1,
        700 + delayToleranceMs + timeoutMs,
      );
      expect(idOf(received[0] as Delivery)).toBe('later');
      expect(received[0]?.redelivered).toBe(false);
      expect(receivedAt).toBeGreaterThanOrEqual(deliverAt - clockSkewMs);
      expect(receivedAt - deliverAt).toBeLessThanOrEqual(delayToleranceMs);
      expect(await broker.countDelayed(q)).toBe(0);
    });

    it('delivers held messages in deliverAt order, and a past deliverAt at once', async () => {
      const q = uniqueName('conf-delay-order');
      const now = Date.now();
      await broker.publishMany([
        { queue: q, message: msg('second'), options: { deliverAt: now + 500 } },
        { queue: q, message: msg('first'), options: { deliverAt: now + 250 } },
        { queue: q, message: msg('past'), options: { deliverAt: now - 1000 } },
      ]);
      expect(await broker.countDelayed(q)).toBe(2);
      const { received } = await collect(broker, [q], 5, 'ack');
      await eventually(
        'the past-due message',
        () => received.length >= 1,
        quietMs + delayToleranceMs,
      );
      expect(idOf(received[0] as Delivery)).toBe('past');
      await eventually(
        'both held messages',
        () => received.length === 3,
        500 + delayToleranceMs + timeoutMs,
      );
      expect(ids(received)).toEqual(['past', 'first', 'second']);
    });

    it('purge deletes ready messages only; count and countDelayed', async () => {
      const q = uniqueName('conf-purge');
      expect(await broker.count(q)).toBe(0);
      expect(await broker.countDelayed(q)).toBe(0);
      expect(await broker.purge(q)).toBe(0);
      await broker.publishMany([
        { queue: q, message: msg('a', { priority: 0 }) },
        { queue: q, message: msg('b') },
        { queue: q, message: msg('c', { priority: 9 }) },
        { queue: q, message: msg('d', { priority: 3 }) },
        { queue: q, message: msg('held'), options: { deliverAt: Date.now() + 3_600_000 } },
      ]);
      expect(await broker.count(q)).toBe(4);
      expect(await broker.countDelayed(q)).toBe(1);

      // An unsettled delivery is neither ready nor purged.
      const { received } = await collect(broker, [q], 1);
      await eventually('one delivery', () => received.length === 1);
      expect(await broker.count(q)).toBe(3);
      expect(await broker.purge(q)).toBe(3);
      expect(await broker.count(q)).toBe(0);
      expect(await broker.countDelayed(q)).toBe(1);
      await (received[0] as Delivery).requeue();
      await eventually('the requeued message', () => received.length === 2);
      await (received[1] as Delivery).ack();
      expect(await broker.count(q)).toBe(0);
    });

    it('a cancelled consumer receives nothing more, and still settles what it holds', async () => {
      const q = uniqueName('conf-cancel');
      const { received, cancel } = await collect(broker, [q], 5);
      await broker.publish(q, msg('before'));
      await eventually('the first message', () => received.length === 1);
      await cancel();
      await cancel();
      await broker.publish(q, msg('after-1'));
      await broker.publish(q, msg('after-2'));
      await sleep(quietMs);
      expect(ids(received)).toEqual(['before']);
      expect(await broker.count(q)).toBe(2);
      // Deliveries handed out before the cancel stay owned by the caller.
      await (received[0] as Delivery).requeue();
      expect(await broker.count(q)).toBe(3);
    });

    it('consumes several queues at once and says which queue a delivery came from', async () => {
      const qa = uniqueName('conf-multi-a');
      const qb = uniqueName('conf-multi-b');
      const { received } = await collect(broker, [qa, qb], 10, 'ack');
      await broker.publishMany([
        ...['a1', 'a2', 'a3'].map((id) => ({ queue: qa, message: msg(id) })),
        ...['b1', 'b2', 'b3'].map((id) => ({ queue: qb, message: msg(id) })),
      ]);
      await eventually('six deliveries', () => received.length === 6);
      for (const d of received) expect(d.queue).toBe(idOf(d).startsWith('a') ? qa : qb);
      expect(ids(received).filter((id) => id.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
      expect(ids(received).filter((id) => id.startsWith('b'))).toEqual(['b1', 'b2', 'b3']);
    });

    it('ignores a second settle', async () => {
      const q = uniqueName('conf-settle');
      await broker.publishMany(['s1', 's2'].map((id) => ({ queue: q, message: msg(id) })));
      const { received } = await collect(broker, [q], 1);
      await eventually('the first delivery', () => received.length === 1);
      const d = received[0] as Delivery;
      await d.ack();
      await d.ack();
      await d.requeue();
      await d.deadLetter({ code: ErrorCodes.UNKNOWN_TASK, message: 'late' });
      await eventually('the second delivery', () => received.length === 2);
      const e = received[1] as Delivery;
      await e.requeue();
      await e.ack();
      await e.deadLetter({ code: ErrorCodes.UNKNOWN_TASK, message: 'late' });
      await eventually('the requeued delivery', () => received.length === 3);
      await (received[2] as Delivery).ack();
      await sleep(quietMs);
      expect(ids(received)).toEqual(['s1', 's2', 's2']);
      expect(await broker.count(q)).toBe(0);
      expect(await broker.deadLetters.count(q)).toBe(0);
    });

    it('two consumers on one queue never hold the same message', async () => {
      const q = uniqueName('conf-two');
      const other = await open();
      const all = Array.from({ length: 20 }, (_, i) => `t${i}`);
      await broker.publishMany(all.map((id) => ({ queue: q, message: msg(id) })));
      const one = await collect(broker, [q], 5);
      const two = await collect(other, [q], 5);
      await eventually(
        'both consumers full',
        () => one.received.length + two.received.length === 10,
      );
      await sleep(quietMs);
      expect(one.received.length).toBe(5);
      expect(two.received.length).toBe(5);
      const held = [...one.received, ...two.received];
      expect(new Set(ids(held)).size).toBe(10);
      expect(new Set(held.map((d) => d.deliveryTag)).size).toBe(10);

      const acked = new Set<Delivery>();
      await eventually('every message', async () => {
        for (const d of [...one.received, ...two.received]) {
          if (acked.has(d)) continue;
          acked.add(d);
          await d.ack();
        }
        return one.received.length + two.received.length === 20;
      });
      const every = [...one.received, ...two.received];
      expect(ids(every).sort()).toEqual([...all].sort());
    });

    it('a message published by one broker instance is consumed through another', async () => {
      const q = uniqueName('conf-cross');
      const worker = await open();
      const { received } = await collect(worker, [q], 1, 'ack');
      await broker.publish(q, msg('hello'));
      await eventually('the message', () => received.length === 1);
      expect(idOf(received[0] as Delivery)).toBe('hello');
    });

    it('closing returns unsettled deliveries to their queue', async () => {
      const q = uniqueName('conf-close-return');
      const survivor = await open();
      await survivor.publishMany(['c1', 'c2'].map((id) => ({ queue: q, message: msg(id) })));
      const { received } = await collect(broker, [q], 2);
      await eventually('two deliveries', () => received.length === 2);
      await broker.close();
      const again = await collect(survivor, [q], 2, 'ack');
      await eventually('the returned messages', () => again.received.length === 2);
      expect(ids(again.received).sort()).toEqual(['c1', 'c2']);
      for (const d of again.received) expect(d.redelivered).toBe(true);
    });

    it('close is idempotent, and a closed broker refuses work', async () => {
      await broker.close();
      await broker.close();
      const err: unknown = await broker.publish(uniqueName('conf-closed'), msg('x')).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isCeleriacError(err, ErrorCodes.CLOSED)).toBe(true);
    });
  });
}

function idOf(d: Delivery): string {
  return String(d.message.headers['id']);
}

function msg(
  id: string,
  o: { priority?: number | undefined; headers?: Record<string, unknown> } = {},
): BrokerMessage {
  const properties: MessageProperties = { correlation_id: id, reply_to: '', delivery_mode: 2 };
  if (o.priority !== undefined) properties.priority = o.priority;
  return {
    body: Buffer.from(
      JSON.stringify([[id], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]),
    ),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { lang: 'js', task: 'conformance.task', id, ...o.headers },
    properties,
  };
}
