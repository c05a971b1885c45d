import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  ManualClock,
  isCeleriacError,
  type Broker,
  type BrokerMessage,
  type Delivery,
} from '@celeriac/core';
import { brokerConformance, uniqueName } from '@celeriac/testing';
import { createBroker, MemoryBroker } from '../index.js';

const conformanceUrl = `memory://${uniqueName('conformance')}`;

brokerConformance(
  'MemoryBroker',
  () => {
    const broker = new MemoryBroker({ url: conformanceUrl });
    return Promise.resolve({ broker, close: () => broker.close() });
  },
  { priority: 'lower-first', delayToleranceMs: 250 },
);

function msg(id: string, priority?: unknown): BrokerMessage {
  const properties: Record<string, unknown> = { correlation_id: id };
  if (priority !== undefined) properties['priority'] = priority;
  return {
    body: Buffer.from(id),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { id, task: 'tests.t' },
    properties,
  };
}

const idOf = (d: Delivery): string => String(d.message.headers['id']);

async function eventually(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  ms = 2000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isCeleriacError(err) ? err.code : `not a CeleriacError: ${String(err)}`;
  }
  return undefined;
}

describe('MemoryBroker', () => {
  const opened: Broker[] = [];
  const open = (options: ConstructorParameters<typeof MemoryBroker>[0] = {}): MemoryBroker => {
    const b = new MemoryBroker(options);
    opened.push(b);
    return b;
  };
  const ns = (): string => `memory://${uniqueName('ns')}`;

  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
  });

  describe('delays on an injected clock', () => {
    it('makes a held message ready once the clock passes deliverAt, on the next broker call', async () => {
      const clock = new ManualClock(1_000_000);
      const broker = open({ url: ns(), clock });
      const q = uniqueName('q');
      await broker.publish(q, msg('later'), { deliverAt: 1_000_000 + 60 * 60_000 });
      const received: Delivery[] = [];
      await broker.consume({ queues: [q], prefetch: 1, onMessage: (d) => received.push(d) });
      expect(await broker.countDelayed(q)).toBe(1);
      clock.advance(60 * 60_000 - 1);
      expect(await broker.count(q)).toBe(0);
      await sleep(20);
      expect(received).toHaveLength(0);

      clock.advance(1);
      expect(await broker.countDelayed(q)).toBe(0);
      await eventually('the due message', () => received.length === 1);
      expect(idOf(received[0] as Delivery)).toBe('later');
    });

    it('wakes itself with a real timer and reads the clock again when it fires', async () => {
      const clock = new ManualClock(0);
      const broker = open({ url: ns(), clock });
      const q = uniqueName('q');
      await broker.publish(q, msg('soon'), { deliverAt: 50 });
      const received: Delivery[] = [];
      await broker.consume({ queues: [q], prefetch: 1, onMessage: (d) => received.push(d) });
      // The timer fires after ~50 ms of real time but the clock has not moved: still held.
      await sleep(120);
      expect(received).toHaveLength(0);
      clock.advance(50);
      // No broker call: the re-armed timer notices.
      await eventually('the due message', () => received.length === 1);
    });

    it('orders held messages by deliverAt, then by publish order', async () => {
      const clock = new ManualClock(0);
      const broker = open({ url: ns(), clock });
      const q = uniqueName('q');
      await broker.publishMany([
        { queue: q, message: msg('c'), options: { deliverAt: 300 } },
        { queue: q, message: msg('a1'), options: { deliverAt: 100 } },
        { queue: q, message: msg('b'), options: { deliverAt: 200 } },
        { queue: q, message: msg('a2'), options: { deliverAt: 100 } },
      ]);
      clock.advance(1000);
      const received: Delivery[] = [];
      await broker.consume({ queues: [q], prefetch: 10, onMessage: (d) => received.push(d) });
      await eventually('four messages', () => received.length === 4);
      expect(received.map(idOf)).toEqual(['a1', 'a2', 'b', 'c']);
    });
  });

  describe('shared namespaces', () => {
    it('brokers on one memory://name share queues; another name is separate', async () => {
      const url = ns();
      const client = open({ url });
      const worker = open({ url });
      const stranger = open({ url: ns() });
      const q = uniqueName('q');
      await client.publish(q, msg('shared'));
      expect(await worker.count(q)).toBe(1);
      expect(await stranger.count(q)).toBe(0);
      expect(worker.namespace).toBe(url.slice('memory://'.length));
    });

    it('memory:// and no url are the process-wide default namespace', async () => {
      const a = open();
      const b = open({ url: 'memory://' });
      const c = open({ url: 'MEMORY:///' });
      const q = uniqueName('q');
      await a.publish(q, msg('x'));
      expect(await b.count(q)).toBe(1);
      expect(await c.purge(q)).toBe(1);
      expect(a.namespace).toBe('default');
    });

    it('a namespace keeps its messages after the publisher closes', async () => {
      const url = ns();
      const q = uniqueName('q');
      const client = new MemoryBroker({ url });
      await client.publish(q, msg('kept'));
      await client.close();
      const worker = open({ url });
      expect(await worker.count(q)).toBe(1);
    });

    it('refuses a broker whose clock differs from its namespace', async () => {
      const url = ns();
      open({ url, clock: new ManualClock(0) });
      expect(() => new MemoryBroker({ url, clock: new ManualClock(0) })).toThrow(
        expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }) as Error,
      );
      expect(() => new MemoryBroker({ url, deadLetterLimit: 3 })).toThrow(
        expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }) as Error,
      );
      // Not passing the option joins the namespace as it is.
      const joined = open({ url });
      expect(await joined.count(uniqueName('q'))).toBe(0);
    });

    it('forgets an empty namespace when its last broker closes', async () => {
      const url = ns();
      await new MemoryBroker({ url, clock: new ManualClock(0) }).close();
      // A fresh namespace: a different clock is accepted.
      const holder = new MemoryBroker({ url, clock: new ManualClock(0) });
      await holder.publish(uniqueName('q'), msg('kept'));
      await holder.close();
      // Still holding a message: the namespace stays, with its clock.
      expect(() => new MemoryBroker({ url, clock: new ManualClock(0) })).toThrow(
        expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }) as Error,
      );
    });

    it('rejects a URL that is not memory://', () => {
      expect(() => new MemoryBroker({ url: 'redis://localhost' })).toThrow(
        expect.objectContaining({ code: ErrorCodes.UNSUPPORTED_URL }) as Error,
      );
    });
  });

  describe('delivery', () => {
    it('serves several queues round-robin', async () => {
      const broker = open({ url: ns() });
      const qa = uniqueName('a');
      const qb = uniqueName('b');
      await broker.publishMany([
        ...[1, 2, 3, 4].map((i) => ({ queue: qa, message: msg(`a${i}`) })),
        ...[1, 2].map((i) => ({ queue: qb, message: msg(`b${i}`) })),
      ]);
      const received: Delivery[] = [];
      await broker.consume({
        queues: [qa, qb],
        prefetch: 1,
        onMessage: (d) => {
          received.push(d);
          void d.ack();
        },
      });
      await eventually('six messages', () => received.length === 6);
      expect(received.map(idOf)).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'a4']);
    });

    it('shares one queue fairly between consumers', async () => {
      const url = ns();
      const one = open({ url });
      const two = open({ url });
      const q = uniqueName('q');
      const got = { one: 0, two: 0 };
      await one.consume({
        queues: [q],
        prefetch: 1,
        onMessage: (d) => void d.ack().then(() => got.one++),
      });
      await two.consume({
        queues: [q],
        prefetch: 1,
        onMessage: (d) => void d.ack().then(() => got.two++),
      });
      await one.publishMany(
        Array.from({ length: 20 }, (_, i) => ({ queue: q, message: msg(`m${i}`) })),
      );
      await eventually('twenty messages', () => got.one + got.two === 20);
      expect(got.one).toBeGreaterThanOrEqual(8);
      expect(got.two).toBeGreaterThanOrEqual(8);
    });

    it('uses ten priority levels, clamps out-of-range values and reads numeric strings', async () => {
      const broker = open({ url: ns() });
      const q = uniqueName('q');
      await broker.publishMany([
        { queue: q, message: msg('p2', 2) },
        { queue: q, message: msg('p12', 12) },
        { queue: q, message: msg('p1', 1) },
        { queue: q, message: msg('s5', '5') },
        { queue: q, message: msg('neg', -3) },
        { queue: q, message: msg('junk', 'high') },
        { queue: q, message: msg('p9', 9) },
      ]);
      const received: Delivery[] = [];
      await broker.consume({
        queues: [q],
        prefetch: 1,
        onMessage: (d) => {
          received.push(d);
          void d.ack();
        },
      });
      await eventually('seven messages', () => received.length === 7);
      expect(received.map(idOf)).toEqual(['neg', 'junk', 'p1', 'p2', 's5', 'p12', 'p9']);
    });

    it('gives each delivery its own copy of the message', async () => {
      const broker = open({ url: ns() });
      const q = uniqueName('q');
      await broker.publish(q, { ...msg('copy'), headers: { id: 'copy', list: [1] } });
      const received: Delivery[] = [];
      await broker.consume({ queues: [q], prefetch: 1, onMessage: (d) => received.push(d) });
      await eventually('the message', () => received.length === 1);
      const first = received[0] as Delivery;
      (first.message.headers['list'] as number[]).push(2);
      first.message.headers['id'] = 'changed';
      await first.requeue();
      await eventually('the redelivery', () => received.length === 2);
      expect(received[1]?.message.headers).toEqual({ id: 'copy', list: [1] });
    });

    it('reports a throwing onMessage through onError and keeps delivering', async () => {
      const broker = open({ url: ns() });
      const q = uniqueName('q');
      const errors: Error[] = [];
      const received: Delivery[] = [];
      await broker.consume({
        queues: [q],
        prefetch: 5,
        onMessage: (d) => {
          received.push(d);
          if (idOf(d) === 'bad') throw new Error('handler bug');
        },
        onError: (e) => errors.push(e),
      });
      await broker.publishMany([
        { queue: q, message: msg('bad') },
        { queue: q, message: msg('good') },
      ]);
      await eventually('both messages', () => received.length === 2);
      expect(errors.map((e) => e.message)).toEqual(['handler bug']);
    });

    it('close returns unsettled deliveries; settling them afterwards is ignored', async () => {
      const url = ns();
      const broker = new MemoryBroker({ url });
      const other = open({ url });
      const q = uniqueName('q');
      const received: Delivery[] = [];
      await broker.consume({ queues: [q], prefetch: 2, onMessage: (d) => received.push(d) });
      await other.publishMany([
        { queue: q, message: msg('x') },
        { queue: q, message: msg('y') },
      ]);
      await eventually('two deliveries', () => received.length === 2);
      await broker.close();
      for (const d of received) await d.ack();
      expect(await other.count(q)).toBe(2);
      expect(await codeOf(broker.count(q))).toBe(ErrorCodes.CLOSED);
      expect(await codeOf(broker.deadLetters.count(q))).toBe(ErrorCodes.CLOSED);
    });

    it('validates its arguments', async () => {
      const broker = open({ url: ns() });
      const q = uniqueName('q');
      const onMessage = (): void => undefined;
      expect(await codeOf(broker.consume({ queues: [q], prefetch: 0, onMessage }))).toBe(
        ErrorCodes.INVALID_OPTION,
      );
      expect(await codeOf(broker.consume({ queues: [], prefetch: 1, onMessage }))).toBe(
        ErrorCodes.INVALID_OPTION,
      );
      expect(await codeOf(broker.publish('', msg('x')))).toBe(ErrorCodes.INVALID_OPTION);
      expect(await codeOf(broker.publish(q, msg('x'), { deliverAt: Number.NaN }))).toBe(
        ErrorCodes.INVALID_OPTION,
      );
      const notBuffer = { ...msg('x'), body: 'text' } as unknown as BrokerMessage;
      expect(
        await codeOf(
          broker.publishMany([
            { queue: q, message: msg('ok') },
            { queue: q, message: notBuffer },
          ]),
        ),
      ).toBe(ErrorCodes.INVALID_OPTION);
      // A bad item publishes nothing of its batch.
      expect(await broker.count(q)).toBe(0);
      expect(() => new MemoryBroker({ url: ns(), deadLetterLimit: 0 })).toThrow(
        expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }) as Error,
      );
    });
  });

  describe('dead letters', () => {
    const deadLetterAll = async (broker: MemoryBroker, q: string, n: number): Promise<void> => {
      const received: Delivery[] = [];
      const consumer = await broker.consume({
        queues: [q],
        prefetch: n,
        onMessage: (d) => received.push(d),
      });
      await eventually(`${n} deliveries`, () => received.length === n);
      await consumer.cancel();
      for (const d of received)
        await d.deadLetter({ code: ErrorCodes.UNKNOWN_TASK, message: idOf(d) });
    };

    it('keeps at most deadLetterLimit per queue, dropping the oldest', async () => {
      const broker = open({ url: ns(), deadLetterLimit: 2 });
      const q = uniqueName('q');
      await broker.publishMany(['d1', 'd2', 'd3'].map((id) => ({ queue: q, message: msg(id) })));
      await deadLetterAll(broker, q, 3);
      expect(await broker.deadLetters.count(q)).toBe(2);
      expect((await broker.deadLetters.list(q)).map((dl) => dl.message.headers['id'])).toEqual([
        'd2',
        'd3',
      ]);
    });

    it('drops dead letters older than deadLetterTtlMs', async () => {
      const clock = new ManualClock(0);
      const broker = open({ url: ns(), clock, deadLetterTtlMs: 1000 });
      const q = uniqueName('q');
      await broker.publish(q, msg('old'));
      await deadLetterAll(broker, q, 1);
      clock.advance(500);
      await broker.publish(q, msg('young'));
      await deadLetterAll(broker, q, 1);
      clock.advance(500);
      expect((await broker.deadLetters.list(q)).map((dl) => dl.message.headers['id'])).toEqual([
        'young',
      ]);
      expect((await broker.deadLetters.list(q))[0]?.deadAt).toBe(500);
    });
  });

  describe('createBroker', () => {
    it('creates memory brokers by URL, sharing named namespaces', async () => {
      const url = ns();
      const a = await createBroker(url, { deadLetterLimit: 100 });
      const b = await createBroker(url, { deadLetterLimit: 100 });
      opened.push(a, b);
      expect(a).toBeInstanceOf(MemoryBroker);
      expect(a.kind).toBe('memory');
      const q = uniqueName('q');
      await a.publish(q, msg('x'));
      expect(await b.count(q)).toBe(1);
    });

    it('refuses an unknown scheme, naming the supported ones, without leaking a password', async () => {
      const err: unknown = await createBroker('kafka://user:hunter2@host:9092').catch(
        (e: unknown) => e,
      );
      expect(isCeleriacError(err, ErrorCodes.UNSUPPORTED_URL)).toBe(true);
      const message = (err as Error).message;
      expect(message).toMatch(/memory:\/\/.*redis:\/\//);
      expect(message).not.toContain('hunter2');
      expect(await codeOf(createBroker('localhost:6379'))).toBe(ErrorCodes.UNSUPPORTED_URL);
    });

    it('loads redis:// lazily, or explains why it cannot', async () => {
      // The Redis driver ships separately (@celeriac/broker/redis + ioredis); whichever state
      // this tree is in, the answer is a redis broker or an error with a stable code.
      const result: unknown = await createBroker('redis://127.0.0.1:1/0', {
        redisOptions: { lazyConnect: true },
      }).catch((e: unknown) => e);
      if (isCeleriacError(result)) {
        expect([ErrorCodes.UNSUPPORTED_URL, ErrorCodes.MISSING_DRIVER]).toContain(result.code);
        expect(result.message).toMatch(/@celeriac\/broker\/redis|ioredis/);
      } else {
        const broker = result as Broker;
        expect(broker.kind).toBe('redis');
        await broker.close();
      }
    });
  });
});
