import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, isCeleriacError, type BrokerMessage, type Delivery } from '@celeriac/core';
import {
  respCommand,
  startRedisCluster,
  thrownBy,
  uniqueName,
  type RedisClusterHandle,
} from '@celeriac/testing';
import { Cluster } from 'ioredis';
import type { RedisDelivery } from './delivery.js';
import { RedisBroker, type RedisBrokerOptions } from './index.js';
import { shardTag } from './layout.js';

// The cluster layout on a 3-master Redis Cluster: sharded queues, their fairness and order,
// stale in-flight messages restored per shard, and the options a cluster refuses.
let cluster: RedisClusterHandle;
let raw: Cluster;
const brokers: RedisBroker[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
  raw = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0]!.port }]);
});
afterAll(async () => {
  raw?.disconnect();
  await cluster?.stop();
});
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close();
});

function open(options: Partial<RedisBrokerOptions> = {}): RedisBroker {
  const b = new RedisBroker({ url: cluster.url, ...options });
  brokers.push(b);
  return b;
}

function msg(id: string): BrokerMessage {
  return {
    body: Buffer.from(JSON.stringify([[id], {}, {}])),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { lang: 'js', task: 'it.task', id },
    properties: { correlation_id: id, reply_to: '', delivery_mode: 2 },
  };
}

const idOf = (d: Delivery): string => String(d.message.headers['id']);
const shardOf = (d: Delivery): number => (d as RedisDelivery).keys.shard;

async function eventually(
  what: string,
  predicate: () => boolean | Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + 8000;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('RedisBroker cluster layout', () => {
  it('spreads a sharded queue over its hash tags, and consumers take from every shard in turn, FIFO per shard', async () => {
    const q = uniqueName('sharded');
    const broker = open({ shards: 3 });
    await broker.declareQueue(q);
    await broker.publishMany(
      Array.from({ length: 30 }, (_, i) => ({ queue: q, message: msg(`m${i}`) })),
    );
    // Publishes take the shards in turn: ten each, under three tags in three different slots.
    const lengths = await Promise.all([0, 1, 2].map((s) => raw.llen(`${shardTag(q, s)}:ready`)));
    expect(lengths).toEqual([10, 10, 10]);
    const slots = await Promise.all(
      [0, 1, 2].map((s) =>
        respCommand(cluster.nodes[0]!.port, ['CLUSTER', 'KEYSLOT', shardTag(q, s)]),
      ),
    );
    expect(new Set(slots).size).toBe(3);
    expect(await broker.count(q)).toBe(30);

    const received: Delivery[] = [];
    const consumer = await broker.consume({
      queues: [q],
      prefetch: 1,
      onMessage: (d) => {
        received.push(d);
        void d.ack();
      },
    });
    await eventually('all 30', () => received.length === 30);
    await consumer.cancel();
    // Fair: the first nine deliveries came three from each shard.
    const firstNine = received.slice(0, 9).map(shardOf);
    expect([0, 1, 2].map((s) => firstNine.filter((x) => x === s).length)).toEqual([3, 3, 3]);
    // Ordered within a shard: shard s holds m<s>, m<s+3>, … and hands them out in that order.
    for (const s of [0, 1, 2]) {
      const ids = received.filter((d) => shardOf(d) === s).map(idOf);
      expect(ids).toEqual(Array.from({ length: 10 }, (_, k) => `m${s + 3 * k}`));
    }
    expect(await broker.count(q)).toBe(0);
    for (const s of [0, 1, 2]) expect(await raw.hlen(`${shardTag(q, s)}:unacked`)).toBe(0);
  });

  it('wakes an idle consumer of a sharded queue at once when a message arrives on any shard', async () => {
    const q = uniqueName('wake');
    const worker = open({ shards: 4, idleCheckIntervalMs: 30_000 });
    const received: Delivery[] = [];
    await worker.consume({ queues: [q], prefetch: 10, onMessage: (d) => received.push(d) });
    const client = open({ shards: 4 });
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      await client.publish(q, msg(`w${i}`));
      await eventually(`delivery ${i}`, () => received.length === i + 1);
      // Far below the 30 s idle check: the PUBLISH woke it.
      expect(Date.now() - started).toBeLessThan(5000);
    }
    expect(new Set(received.map(shardOf))).toEqual(new Set([0, 1, 2, 3]));
  });

  it('restores the stale in-flight messages of a dead consumer, shard by shard', async () => {
    const q = uniqueName('restore');
    const dying = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0]!.port }]);
    const victim = new RedisBroker({ client: dying as never, shards: 3 });
    await victim.publishMany(
      Array.from({ length: 6 }, (_, i) => ({ queue: q, message: msg(`r${i}`) })),
    );
    const held: Delivery[] = [];
    await victim.consume({ queues: [q], prefetch: 10, onMessage: (d) => held.push(d) });
    await eventually('six deliveries', () => held.length === 6);
    dying.disconnect(); // the process "dies": no ack, no refresh, no give-back
    for (const s of [0, 1, 2]) expect(await raw.hlen(`${shardTag(q, s)}:unacked`)).toBe(2);

    const rescuer = open({ shards: 3, visibilityTimeout: 1, restoreIntervalMs: 200 });
    const again: Delivery[] = [];
    await rescuer.consume({
      queues: [q],
      prefetch: 10,
      onMessage: (d) => {
        again.push(d);
        void d.ack();
      },
    });
    await eventually('the restored messages', () => again.length === 6);
    expect(again.map(idOf).sort()).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
    expect(again.every((d) => d.redelivered)).toBe(true);
    await eventually('acks', async () => {
      const left = await Promise.all([0, 1, 2].map((s) => raw.hlen(`${shardTag(q, s)}:unacked`)));
      return left.every((n) => n === 0);
    });
  });

  it('keeps delayed messages and dead letters per shard, and counts, lists and replays them together', async () => {
    const q = uniqueName('delayed');
    const broker = open({ shards: 2 });
    const due = Date.now() + 400;
    await broker.publishMany([
      { queue: q, message: msg('d0'), options: { deliverAt: due } },
      { queue: q, message: msg('d1'), options: { deliverAt: due } },
    ]);
    expect(await broker.countDelayed(q)).toBe(2);
    const received: Delivery[] = [];
    const consumer = await broker.consume({
      queues: [q],
      prefetch: 10,
      onMessage: (d) => received.push(d),
    });
    await eventually('the delayed messages', () => received.length === 2);
    expect(Date.now()).toBeGreaterThanOrEqual(due - 20);
    expect(new Set(received.map(shardOf))).toEqual(new Set([0, 1]));
    for (const d of received) await d.deadLetter({ code: 'TEST', message: 'no' });
    expect(await broker.deadLetters.count(q)).toBe(2);
    expect((await broker.deadLetters.list(q)).map((l) => l.message.headers['id']).sort()).toEqual([
      'd0',
      'd1',
    ]);
    await consumer.cancel();
    expect(await broker.deadLetters.replay(q)).toBe(2);
    expect(await broker.count(q)).toBe(2);
    expect(await broker.purge(q)).toBe(2);
    expect(await broker.deadLetters.count(q)).toBe(0);
  });

  it('refuses a queue name with a brace, which would break its hash tag', () => {
    const broker = open();
    return expect(broker.publish('a{b}', msg('x'))).rejects.toSatisfy(
      (e) =>
        isCeleriacError(e, ErrorCodes.INVALID_OPTION) && /must not contain "\{"/.test(String(e)),
    );
  });

  it('refuses shards off a cluster, waitReplicas on one, and a cluster URL with a database or parameters', () => {
    const shardsOff = thrownBy(
      () => new RedisBroker({ url: 'redis://localhost:6379/0', shards: 2 }),
    );
    expect(isCeleriacError(shardsOff, ErrorCodes.INVALID_OPTION)).toBe(true);
    expect(shardsOff.message).toMatch(/cluster layout only/);
    const badShards = thrownBy(() => new RedisBroker({ url: cluster.url, shards: { q: 0 } }));
    expect(isCeleriacError(badShards, ErrorCodes.INVALID_OPTION)).toBe(true);
    const wait = thrownBy(() => new RedisBroker({ url: cluster.url, waitReplicas: 1 }));
    expect(isCeleriacError(wait, ErrorCodes.INVALID_OPTION)).toBe(true);
    const db = thrownBy(() => new RedisBroker({ url: `${cluster.url}/2` }));
    expect(isCeleriacError(db, ErrorCodes.INVALID_URL)).toBe(true);
    const query = thrownBy(() => new RedisBroker({ url: `${cluster.url}?wait_replicas=1` }));
    expect(isCeleriacError(query, ErrorCodes.INVALID_URL)).toBe(true);
  });

  it('carries remote control on a cluster: fanout broadcasts reach every listener, direct replies reach their reply queue', async () => {
    const a = open();
    const b = open();
    const exchange = uniqueName('pidbox');
    const heard: string[] = [];
    const listeners = await Promise.all(
      [a, b].map((x, i) =>
        x.control.listen(exchange, (m) => heard.push(`${i}:${idOf({ message: m } as Delivery)}`)),
      ),
    );
    await a.control.broadcast(exchange, msg('ping'));
    await eventually('both listeners', () => heard.length === 2);
    expect(heard.sort()).toEqual(['0:ping', '1:ping']);

    const replyExchange = uniqueName('reply.pidbox');
    const replies: string[] = [];
    const reader = await a.control.openReplies(replyExchange, 'oid-1', (m) =>
      replies.push(String(m.headers['id'])),
    );
    expect(await b.control.send(replyExchange, 'oid-1', msg('pong'))).toBe(1);
    await eventually('the reply', () => replies.length === 1);
    expect(replies).toEqual(['pong']);
    await reader.close();
    for (const l of listeners) await l.close();
  });
});
