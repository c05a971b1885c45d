import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import {
  ErrorCodes,
  isCeleriacError,
  type BrokerMessage,
  type Delivery,
  type MessageProperties,
} from '@celeriac/core';
import { freePort, startRedisServer, uniqueName, type RedisServerHandle } from '@celeriac/testing';
import { RedisBroker, type RedisBrokerOptions } from './index.js';
import {
  delayedKey,
  fetchReceiptKey,
  readyListKeys,
  UNACKED_INDEX_KEY,
  UNACKED_KEY,
  wakeKey,
} from './keys.js';
import { isRedisFusedAck, runScript, type RedisFusedAck } from './internal/index.js';
import { FETCH_SCRIPT } from './scripts/index.js';

// These tests read server-wide state (INFO commandstats, every stale `unacked` entry a short
// visibility timeout restores, CLIENT LIST), so they run on a redis-server of their own rather
// than on a shared REDIS_URL, where other test files' brokers would blur the figures.
let server: RedisServerHandle;
let raw: Redis;
const brokers: RedisBroker[] = [];
const clients: Redis[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  raw = new Redis(server.url);
});
afterAll(async () => {
  raw.disconnect();
  await server.stop();
});
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close();
  for (const c of clients.splice(0)) c.disconnect();
});

function open(options: Partial<RedisBrokerOptions> = {}): RedisBroker {
  const b = new RedisBroker({ url: server.url, ...options });
  brokers.push(b);
  return b;
}

function ownClient(): Redis {
  const c = new Redis(server.url, { enableAutoPipelining: true });
  clients.push(c);
  return c;
}

async function eventually(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  ms = 8000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

function msg(id: string, priority?: number): BrokerMessage {
  const properties: MessageProperties = { correlation_id: id, reply_to: '', delivery_mode: 2 };
  if (priority !== undefined) properties.priority = priority;
  return {
    body: Buffer.from(
      JSON.stringify([[id], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]),
    ),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { lang: 'js', task: 'it.task', id },
    properties,
  };
}

const idOf = (d: Delivery): string => String(d.message.headers['id']);

async function collect(
  b: RedisBroker,
  queues: string[],
  prefetch: number,
  onMessage?: (d: Delivery) => void,
): Promise<{ received: Delivery[]; errors: Error[]; cancel: () => Promise<void> }> {
  const received: Delivery[] = [];
  const errors: Error[] = [];
  const consumer = await b.consume({
    queues,
    prefetch,
    onMessage: (d) => {
      received.push(d);
      onMessage?.(d);
    },
    onError: (e) => errors.push(e),
  });
  return { received, errors, cancel: () => consumer.cancel() };
}

async function commandStats(): Promise<Map<string, number>> {
  const info = await raw.info('commandstats');
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

function diff(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0 && k !== 'info') out[k] = d;
  }
  return out;
}

/**
 * Counts the commands every ioredis client but `raw` sends (blocking connections included), by
 * name. Server-side commandstats would also count the commands scripts run inside.
 */
function countCommands(): {
  counts: Record<string, number>;
  total: () => number;
  stop: () => void;
} {
  const proto = Redis.prototype as unknown as {
    sendCommand: (this: Redis, cmd: { name: string }, ...rest: unknown[]) => unknown;
  };
  const original = proto.sendCommand;
  const counts: Record<string, number> = {};
  proto.sendCommand = function (this: Redis, cmd: { name: string }, ...rest: unknown[]) {
    if (this !== raw) counts[cmd.name] = (counts[cmd.name] ?? 0) + 1;
    return original.call(this, cmd, ...rest);
  };
  return {
    counts,
    total: () => Object.values(counts).reduce((a, n) => a + n, 0),
    stop: () => {
      proto.sendCommand = original;
    },
  };
}

/** Counts socket writes on an ioredis client: each write is one batch of commands on the wire. */
async function countWrites(c: Redis): Promise<{ writes: () => number }> {
  await c.ping();
  const stream = (c as unknown as { stream: { write: (...a: unknown[]) => boolean } }).stream;
  const original = stream.write.bind(stream);
  let writes = 0;
  stream.write = (...a: unknown[]) => {
    writes += 1;
    return original(...a);
  };
  return { writes: () => writes };
}

describe('RedisBroker: kombu layout', () => {
  it('writes the binding, list elements and in-flight records byte-for-byte as kombu', async () => {
    const b = open();
    const q = uniqueName('layout');
    await b.declareQueue(q);
    expect(await raw.smembers(`_kombu.binding.${q}`)).toEqual([`${q}\x06\x16\x06\x16${q}`]);
    const shared = open({ exchange: 'celery' });
    await shared.declareQueue(q);
    expect(await raw.sismember('_kombu.binding.celery', `${q}\x06\x16\x06\x16${q}`)).toBe(1);

    await b.publish(q, msg('p-none'));
    await b.publish(q, msg('p5', 5));
    await b.publish(q, msg('p9', 9));
    await b.publish(q, msg('p7', 7));
    const [element] = await raw.lrange(q, 0, -1);
    expect(await raw.lrange(`${q}\x06\x163`, 0, -1)).toHaveLength(1);
    expect(await raw.lrange(`${q}\x06\x166`, 0, -1)).toHaveLength(1);
    expect(await raw.lrange(`${q}\x06\x169`, 0, -1)).toHaveLength(1);

    const env = JSON.parse(element!) as Record<string, unknown> & {
      properties: Record<string, unknown>;
    };
    expect(Object.keys(env)).toEqual([
      'body',
      'content-encoding',
      'content-type',
      'headers',
      'properties',
    ]);
    expect(Buffer.from(env['body'] as string, 'base64').equals(msg('p-none').body)).toBe(true);
    expect(env['content-type']).toBe('application/json');
    expect(env['content-encoding']).toBe('utf-8');
    expect(env['headers']).toEqual(msg('p-none').headers);
    expect(env.properties).toEqual({
      correlation_id: 'p-none',
      reply_to: '',
      delivery_mode: 2,
      delivery_info: { exchange: '', routing_key: q },
      priority: 0,
      body_encoding: 'base64',
      delivery_tag: expect.stringMatching(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      ) as unknown,
    });

    const { received } = await collect(b, [q], 1);
    await eventually('one delivery', () => received.length === 1);
    const d = received[0]!;
    expect(idOf(d)).toBe('p-none');
    expect(d.deliveryTag).toBe(env.properties['delivery_tag']);
    // kombu's QoS.append: hset unacked tag dumps([message._raw, EX, RK]); zadd unacked_index {tag: time()}
    expect(await raw.hget('unacked', d.deliveryTag)).toBe(`[${element!}, "", "${q}"]`);
    const score = Number(await raw.zscore('unacked_index', d.deliveryTag));
    expect(Math.abs(score - Date.now() / 1000)).toBeLessThan(5);
    await d.ack();
    expect(await raw.hexists('unacked', d.deliveryTag)).toBe(0);
    expect(await raw.zscore('unacked_index', d.deliveryTag)).toBeNull();
  });

  it('consumes an element LPUSHed by hand in the shape Python writes', async () => {
    const b = open();
    const q = uniqueName('by-hand');
    const body = Buffer.from(
      JSON.stringify([[2, 3], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]),
    );
    // As kombu's json.dumps writes it: ", " and ": " separators, exchange "celery".
    const element =
      `{"body": "${body.toString('base64')}", "content-encoding": "utf-8", "content-type": "application/json", ` +
      `"headers": {"lang": "py", "task": "tasks.add", "id": "hand-1", "shadow": null, "eta": null, "expires": null, ` +
      `"group": null, "group_index": null, "retries": 0, "timelimit": [null, null], "root_id": "hand-1", ` +
      `"parent_id": null, "argsrepr": "(2, 3)", "kwargsrepr": "{}", "origin": "gen1@py", "ignore_result": false}, ` +
      `"properties": {"correlation_id": "hand-1", "reply_to": "r", "delivery_mode": 2, ` +
      `"delivery_info": {"exchange": "celery", "routing_key": "${q}"}, "priority": 0, ` +
      `"body_encoding": "base64", "delivery_tag": "hand-tag-1"}}`;
    await raw.lpush(q, element);
    const { received } = await collect(b, [q], 1);
    await eventually('the hand-made message', () => received.length === 1);
    const d = received[0]!;
    expect(d.deliveryTag).toBe('hand-tag-1');
    expect(d.message.headers['task']).toBe('tasks.add');
    expect(d.message.headers['timelimit']).toEqual([null, null]);
    expect(d.message.body.equals(body)).toBe(true);
    expect(d.message.properties).toMatchObject({
      correlation_id: 'hand-1',
      reply_to: 'r',
      priority: 0,
    });
    expect(d.redelivered).toBe(false);
    expect(await raw.hget('unacked', 'hand-tag-1')).toBe(`[${element}, "celery", "${q}"]`);
    await d.ack();
  });

  it('dead-letters an element that is not a kombu envelope instead of delivering it', async () => {
    const b = open();
    const q = uniqueName('garbage');
    await raw.lpush(q, 'this is not json');
    await b.publish(q, msg('fine'));
    const { received } = await collect(b, [q], 5, (d) => void d.ack());
    await eventually('the good message', () => received.length === 1);
    expect(idOf(received[0]!)).toBe('fine');
    await eventually('the dead letter', async () => (await b.deadLetters.count(q)) === 1);
    const [dl] = await b.deadLetters.list(q);
    expect(dl!.reason.code).toBe(ErrorCodes.MALFORMED_MESSAGE);
    expect(dl!.message.body.toString()).toBe('this is not json');
    expect(await raw.hlen('unacked')).toBe(0);
  });

  it('serves lower priority steps first and takes turns between queues', async () => {
    const b = open();
    const qa = uniqueName('fair-a');
    const qb = uniqueName('fair-b');
    await b.publishMany([
      ...['a1', 'a2', 'a3'].map((id) => ({ queue: qa, message: msg(id) })),
      ...['b1', 'b2', 'b3'].map((id) => ({ queue: qb, message: msg(id) })),
      { queue: qb, message: msg('b-urgent', 0) },
      { queue: qa, message: msg('a-late', 9) },
    ]);
    const { received } = await collect(b, [qa, qb], 1, (d) => void d.ack());
    await eventually('all messages', () => received.length === 8);
    const order = received.map(idOf);
    expect(order.slice(0, 7).filter((id) => id.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
    expect(order.at(-1)).toBe('a-late');
    // Turns: never three of one queue in a row while the other has messages at that step.
    expect(`${order.slice(0, 6).join(',')},`).toMatch(/^(a\d,b\d,|b\d,a\d,){3}$/);
  });
});

describe('RedisBroker: settling', () => {
  it('requeue puts the message at the back of its queue, marked redelivered, as kombu reject(requeue) does', async () => {
    const b = open();
    const q = uniqueName('requeue');
    await b.publishMany(['r1', 'r2', 'r3'].map((id) => ({ queue: q, message: msg(id) })));
    let first = true;
    const { received } = await collect(b, [q], 1, (d) => {
      if (first) {
        first = false;
        void d.requeue();
      } else void d.ack();
    });
    await eventually('four deliveries', () => received.length === 4);
    expect(received.map(idOf)).toEqual(['r1', 'r2', 'r3', 'r1']);
    expect(received.map((d) => d.redelivered)).toEqual([false, false, false, true]);
  });

  it('fusedAck gives kombu ack commands that another client runs, then frees the slot', async () => {
    const b = open();
    const q = uniqueName('fusable');
    await b.publishMany(['f1', 'f2'].map((id) => ({ queue: q, message: msg(id) })));
    const { received } = await collect(b, [q], 1);
    await eventually('one delivery', () => received.length === 1);
    const d = received[0]!;
    const offered = d.fusedAck!()!;
    expect(isRedisFusedAck(offered)).toBe(true);
    const fa = offered as RedisFusedAck;
    expect(fa.transport).toBe('redis');
    expect(fa.target).toBe(`redis://127.0.0.1:${server.port}/0`);
    expect(fa.commands).toEqual([
      ['HDEL', 'unacked', d.deliveryTag],
      ['ZREM', 'unacked_index', d.deliveryTag],
    ]);
    const other = ownClient();
    await other
      .multi()
      .set(uniqueName('result'), 'stored', 'EX', 60)
      .call(...(fa.commands[0] as [string, ...string[]]))
      .call(...(fa.commands[1] as [string, ...string[]]))
      .exec();
    await sleep(300);
    expect(received).toHaveLength(1); // the slot is not free until settled() says so
    fa.settled();
    await eventually('the second delivery', () => received.length === 2);
    expect(d.fusedAck!()).toBeUndefined();
    await d.ack(); // ignored
    await received[1]!.ack();
    expect(await raw.hlen('unacked')).toBe(0);
  });

  it('caps dead letters, expires them, and keeps the element exactly as taken', async () => {
    const b = open({ deadLetterLimit: 3, deadLetterTtlMs: 60_000 });
    const q = uniqueName('dlq-cap');
    await b.publishMany(
      ['d1', 'd2', 'd3', 'd4', 'd5'].map((id) => ({ queue: q, message: msg(id) })),
    );
    const elements = await raw.lrange(q, 0, -1);
    const { received } = await collect(b, [q], 5);
    await eventually('five deliveries', () => received.length === 5);
    for (const d of received)
      await d.deadLetter({ code: ErrorCodes.UNKNOWN_TASK, message: `no ${idOf(d)}` });
    expect(await b.deadLetters.count(q)).toBe(3);
    const ttl = await raw.pttl(`_celeriac.dead.${q}`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    const listed = await b.deadLetters.list(q);
    expect(listed.map((dl) => dl.message.headers['id'])).toEqual(['d5', 'd4', 'd3']);
    const entry = JSON.parse((await raw.lindex(`_celeriac.dead.${q}`, 0))!) as Record<
      string,
      unknown
    >;
    expect(Object.keys(entry)).toEqual(['id', 'queue', 'reason', 'deadAt', 'envelope']);
    expect(elements).toContain(entry['envelope']);
    expect(entry['reason']).toEqual({ code: ErrorCodes.UNKNOWN_TASK, message: 'no d5' });
  });
});

describe('RedisBroker: crash safety and visibility', () => {
  it('restores the messages of a consumer that died without acking, marked redelivered', async () => {
    const q = uniqueName('crash');
    const dying = ownClient();
    const victim = open({ client: dying });
    await victim.publishMany(
      ['c1', 'c2', 'c3', 'c4'].map((id) => ({
        queue: q,
        message: msg(id, id === 'c4' ? 9 : undefined),
      })),
    );
    const first = await collect(victim, [q], 10);
    await eventually('four deliveries', () => first.received.length === 4);
    const tags = first.received.map((d) => d.deliveryTag);
    dying.disconnect(); // the process "dies": no ack, no refresh, no give-back
    for (const t of tags) expect(await raw.hexists('unacked', t)).toBe(1);

    const rescuer = open({ visibilityTimeout: 1, restoreIntervalMs: 200 });
    const second = await collect(rescuer, [q], 10, (d) => void d.ack());
    await eventually('the restored messages', () => second.received.length === 4);
    expect(second.received.map(idOf).sort()).toEqual(['c1', 'c2', 'c3', 'c4']);
    expect(second.received.every((d) => d.redelivered)).toBe(true);
    expect(second.received.map((d) => d.deliveryTag).sort()).toEqual([...tags].sort());
    await eventually('acks', async () => (await raw.hlen('unacked')) === 0);
    expect(await raw.zcard('unacked_index')).toBe(0);
  });

  it('a live consumer refreshes what it holds, so a short visibility timeout elsewhere does not steal it', async () => {
    const q = uniqueName('refresh');
    const owner = open({ refreshIntervalMs: 200 });
    await owner.publish(q, msg('long-task'));
    const held = await collect(owner, [q], 1);
    await eventually('the delivery', () => held.received.length === 1);
    const tag = held.received[0]!.deliveryTag;

    const other = open({ visibilityTimeout: 1, restoreIntervalMs: 200 });
    const stolen = await collect(other, [q], 1);
    await sleep(3000);
    expect(stolen.received).toHaveLength(0);
    expect(await raw.hexists('unacked', tag)).toBe(1);
    expect(Number(await raw.zscore('unacked_index', tag))).toBeGreaterThan(Date.now() / 1000 - 1);
    await held.received[0]!.ack();
    expect(await raw.hexists('unacked', tag)).toBe(0);
  });

  it('restores an entry published through a named exchange to the queues bound to it (kombu _lookup)', async () => {
    const q = uniqueName('bound');
    const rk = uniqueName('rk');
    await raw.sadd('_kombu.binding.shared-ex', `${rk}\x06\x16\x06\x16${q}`);
    const env = JSON.parse(
      (await (async () => {
        const tmp = uniqueName('tmp');
        await open().publish(tmp, msg('bound-msg', 9));
        return raw.rpop(`${tmp}\x06\x169`);
      })())!,
    ) as { properties: Record<string, unknown> };
    env.properties['delivery_info'] = { exchange: 'shared-ex', routing_key: rk };
    env.properties['delivery_tag'] = 'bound-tag';
    await raw.hset('unacked', 'bound-tag', JSON.stringify([env, 'shared-ex', rk]));
    await raw.zadd('unacked_index', Date.now() / 1000 - 100, 'bound-tag');
    await raw.zadd('unacked_index', Date.now() / 1000 - 100, 'dangling-tag');
    const b = open({ visibilityTimeout: 1, restoreIntervalMs: 200 });
    await collect(b, [uniqueName('elsewhere')], 1); // any active consumer runs the restorer
    await eventually('the restore', async () => (await raw.llen(`${q}\x06\x169`)) === 1);
    const { received } = await collect(b, [q], 1, (d) => void d.ack());
    await eventually('the restored message', () => received.length === 1);
    expect(received[0]!.deliveryTag).toBe('bound-tag');
    expect(received[0]!.redelivered).toBe(true);
    expect(await raw.zscore('unacked_index', 'dangling-tag')).toBeNull();
  });

  it('close() gives held messages back at once, served next', async () => {
    const q = uniqueName('close-give-back');
    const b = open();
    await b.publishMany(['g1', 'g2', 'g3'].map((id) => ({ queue: q, message: msg(id) })));
    const { received } = await collect(b, [q], 1);
    await eventually('one delivery', () => received.length === 1);
    await b.close();
    expect(await raw.lrange(q, 0, -1)).toHaveLength(3);
    const next = JSON.parse((await raw.lindex(q, -1))!) as {
      headers: { id: string; redelivered?: boolean };
    };
    expect(next.headers.id).toBe('g1');
    expect(next.headers.redelivered).toBe(true);
  });
  it('a fetch sent again after its reply was lost returns what it took, not more', async () => {
    const b = open();
    const q = uniqueName('resent');
    await b.publishMany(['r1', 'r2', 'r3', 'r4'].map((id) => ({ queue: q, message: msg(id) })));
    const fetch = (
      receipt: string,
      previous: string,
      max: number,
    ): Promise<(string | number)[]> => {
      const now = Date.now();
      return runScript(
        raw,
        FETCH_SCRIPT,
        [
          UNACKED_KEY,
          UNACKED_INDEX_KEY,
          receipt,
          previous,
          ...readyListKeys(q),
          delayedKey(q),
          wakeKey(q),
        ],
        [max, now, String(now / 1000), 100, 60_000, 60_000, q],
      );
    };
    const tagsOf = (reply: (string | number)[]): string[] =>
      reply.filter((_, i) => i >= 2 && (i - 2) % 3 === 2).map(String);
    const envelopesOf = (reply: (string | number)[]): string[] =>
      reply.filter((_, i) => i >= 2 && (i - 2) % 3 === 1).map(String);
    const first = fetchReceiptKey(uniqueName('f'));
    const taken = await fetch(first, first, 2);
    expect(tagsOf(taken)).toHaveLength(2);
    // The same call again (ioredis resends it after a reconnect): the same two messages, byte
    // for byte, and a hint to fetch again at once; the queue keeps the other two.
    const again = await fetch(first, first, 2);
    expect(tagsOf(again)).toEqual(tagsOf(taken));
    expect(envelopesOf(again)).toEqual(envelopesOf(taken));
    expect(again[1]).toBe(1);
    expect(await b.count(q)).toBe(2);
    // The next fetch drops that receipt and takes the rest.
    const second = fetchReceiptKey(uniqueName('f'));
    const rest = await fetch(second, first, 10);
    expect(tagsOf(rest)).toHaveLength(2);
    expect(await raw.exists(first)).toBe(0);
    expect(await raw.pttl(second)).toBeGreaterThan(0);
    // A message settled meanwhile is not handed back by a late resend.
    await raw.hdel(UNACKED_KEY, tagsOf(rest)[0]!);
    expect(tagsOf(await fetch(second, second, 10))).toEqual([tagsOf(rest)[1]]);
    await raw.del(second);
    await raw.hdel(UNACKED_KEY, ...tagsOf(taken), ...tagsOf(rest));
    await raw.zrem(UNACKED_INDEX_KEY, ...tagsOf(taken), ...tagsOf(rest));
  });
});

describe('RedisBroker: delayed delivery', () => {
  it('wakes an idle consumer at the due time, not at its idle check', async () => {
    const b = open({ idleCheckIntervalMs: 10_000 });
    const q = uniqueName('delay');
    let at = 0;
    const { received } = await collect(b, [q], 1, (d) => {
      at = Date.now();
      void d.ack();
    });
    await sleep(100);
    const due = Date.now() + 1200;
    await b.publish(q, msg('later', 3), { deliverAt: due });
    const [member] = await raw.zrange(`_celeriac.delayed.${q}`, 0, -1);
    expect(member![0]).toBe('1'); // the step index of priority 3
    expect((JSON.parse(member!.slice(1)) as { headers: { id: string } }).headers.id).toBe('later');
    await eventually('the delayed message', () => received.length === 1, 5000);
    expect(at).toBeGreaterThanOrEqual(due - 5);
    expect(at - due).toBeLessThan(500);
  });

  it('moves each due message once, however many consumers race for it', async () => {
    const q = uniqueName('delay-race');
    const due = Date.now() + 500;
    const ids = Array.from({ length: 60 }, (_, i) => `x${i}`);
    const publisher = open();
    await publisher.publishMany(
      ids.map((id) => ({ queue: q, message: msg(id), options: { deliverAt: due } })),
    );
    const all: Delivery[] = [];
    for (let i = 0; i < 4; i++) {
      const b = open();
      await collect(b, [q], 7, (d) => {
        all.push(d);
        void d.ack();
      });
    }
    await eventually('every delayed message', () => all.length >= 60);
    await sleep(500);
    expect(all.map(idOf).sort()).toEqual([...ids].sort());
    expect(await publisher.countDelayed(q)).toBe(0);
  });
});

describe('RedisBroker: delayed-message movers', () => {
  it('a consumer announces itself before consume() resolves and withdraws on cancel', async () => {
    const q = uniqueName('movers');
    expect(await open().hasDelayedMover(q)).toBe(false);
    const b = open();
    const consumer = await b.consume({ queues: [q], prefetch: 1, onMessage: (d) => void d.ack() });
    // A new broker each time: one broker trusts what it learnt for a second.
    expect(await open().hasDelayedMover(q)).toBe(true);
    expect(await raw.zcard(`_celeriac.movers.${q}`)).toBe(1);
    expect(await raw.pttl(`_celeriac.movers.${q}`)).toBeGreaterThan(10_000);
    await consumer.cancel();
    expect(await open().hasDelayedMover(q)).toBe(false);
  });

  it('a lapsed announcement (a consumer that died) does not count', async () => {
    const q = uniqueName('movers-dead');
    const t = await raw.time();
    const nowMs = Number(t[0]) * 1000 + Math.floor(Number(t[1]) / 1000);
    await raw.zadd(`_celeriac.movers.${q}`, nowMs - 1, 'dead-consumer');
    expect(await open().hasDelayedMover(q)).toBe(false);
    await raw.zadd(`_celeriac.movers.${q}`, nowMs + 60_000, 'live-consumer');
    expect(await open().hasDelayedMover(q)).toBe(true);
  });
});

describe('RedisBroker: round trips', () => {
  it('10,000 concurrent publishes share script calls, as publishMany does', async () => {
    const c = ownClient();
    const b = open({ client: c });
    const q = uniqueName('rt-publish');
    const probe = await countWrites(c);
    await raw.config('RESETSTAT');
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 10_000 }, (_, i) => b.publish(q, msg(`m${i}`))));
    const ms = performance.now() - t0;
    const stats = diff(new Map(), await commandStats());
    const writes = probe.writes();
    console.log(
      `10,000 concurrent publish(): ${ms.toFixed(0)} ms, ${writes} socket writes, commands ${JSON.stringify(stats)}`,
    );
    expect(await b.count(q)).toBe(10_000);
    // Published in one turn of the event loop: script calls of up to 5,000 messages, an LPUSH
    // per 1,000, the wake token checked once per call and pushed once.
    expect((stats['evalsha'] ?? 0) + (stats['eval'] ?? 0)).toBe(2);
    expect(stats['lpush']).toBe(10 + 1);
    expect(stats['llen']).toBe(2);
    expect(writes).toBe(2); // one per script call

    const before = probe.writes();
    await b.publishMany(
      Array.from({ length: 10_000 }, (_, i) => ({ queue: q, message: msg(`n${i}`) })),
    );
    console.log(`publishMany(10,000): ${probe.writes() - before} socket write(s)`);
    expect(probe.writes() - before).toBe(2); // one script call per 5,000 messages
    expect(await b.count(q)).toBe(20_000);
  });

  it('publishes sharing a script call fail only for the queue Redis refused', async () => {
    const b = open();
    const good = uniqueName('pub-good');
    const bad = uniqueName('pub-bad');
    await raw.set(bad, 'not a list', 'PX', 60_000); // LPUSH on a string: WRONGTYPE
    const results = await Promise.allSettled([
      b.publish(good, msg('g1')),
      b.publish(bad, msg('b1')),
      b.publish(good, msg('g2')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const err = (results[1] as PromiseRejectedResult).reason as unknown;
    expect(isCeleriacError(err, ErrorCodes.PUBLISH_FAILED)).toBe(true);
    expect(String(err)).toContain('WRONGTYPE');
    expect(await b.count(good)).toBe(2);
    // In publish order: g1 is served first.
    const { received } = await collect(b, [good], 10, (d) => void d.ack());
    await eventually('both', () => received.length === 2);
    expect(received.map(idOf)).toEqual(['g1', 'g2']);
  });

  it('a fetch takes a batch in one command; acks share writes (HDEL + ZREM each)', async () => {
    const c = ownClient();
    const b = open({ client: c });
    const q = uniqueName('rt-consume');
    await b.publishMany(
      Array.from({ length: 1000 }, (_, i) => ({ queue: q, message: msg(`m${i}`) })),
    );
    const probe = await countWrites(c);
    const commands = countCommands();
    try {
      const { received } = await collect(b, [q], 100, (d) => void d.ack());
      await eventually('1000 deliveries', () => received.length === 1000);
      await eventually('acks', async () => (await raw.hlen('unacked')) === 0);
    } finally {
      commands.stop();
    }
    const fetches = (commands.counts['evalsha'] ?? 0) + (commands.counts['eval'] ?? 0);
    console.log(
      `consume+ack 1000 (prefetch 100): ${fetches} fetch scripts, ${probe.writes()} socket writes on the command connection, commands sent ${JSON.stringify(commands.counts)}`,
    );
    expect(commands.counts['hdel']).toBe(1000);
    expect(commands.counts['zrem']).toBe(1000);
    expect(fetches).toBeLessThan(100);
    expect(probe.writes()).toBeLessThan(200);
  });

  it('an idle consumer blocks: a handful of commands per second', async () => {
    const b = open();
    const q = uniqueName('idle');
    await collect(b, [q], 10);
    await sleep(500);
    const commands = countCommands();
    await sleep(3000);
    commands.stop();
    console.log(
      `idle consumer, 3 s: ${commands.total()} commands sent ${JSON.stringify(commands.counts)}`,
    );
    expect(commands.total()).toBeLessThanOrEqual(8);
  });
});

describe('RedisBroker: connections', () => {
  it('an unreachable broker fails with BROKER_UNAVAILABLE naming the URL, without the password', async () => {
    const port = await freePort();
    const b = open({
      url: `redis://:s3cret@127.0.0.1:${port}/0`,
      redisOptions: { maxRetriesPerRequest: 0, retryStrategy: () => null },
    });
    for (const attempt of [
      () => b.publish(uniqueName('nowhere'), msg('x')),
      () => b.consume({ queues: [uniqueName('nowhere')], prefetch: 1, onMessage: () => undefined }),
    ]) {
      const err: unknown = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isCeleriacError(err, ErrorCodes.BROKER_UNAVAILABLE)).toBe(true);
      expect((err as Error).message).toContain(`127.0.0.1:${port}/0`);
      expect((err as Error).message).toContain('Check that Redis is running');
      expect((err as Error).message).not.toContain('s3cret');
    }
  });

  it('close() is idempotent, closes its blocking connections and leaves a client it was given open', async () => {
    const c = ownClient();
    const b = open({ client: c });
    await collect(b, [uniqueName('conn-a')], 1);
    await collect(b, [uniqueName('conn-b')], 1);
    const blocking = async (): Promise<number> =>
      String(await raw.call('CLIENT', 'LIST'))
        .split('\n')
        .filter((l) => l.includes('name=celeriac-broker-blocking')).length;
    await eventually('two blocking connections', async () => (await blocking()) === 2);
    await Promise.all([b.close(), b.close()]);
    await b.close();
    await eventually('no blocking connection', async () => (await blocking()) === 0);
    expect(await c.ping()).toBe('PONG');
    expect(b.state).toBe('closed');
  });

  it('survives a Redis restart mid-consume: reconnects, resumes, loses nothing', async () => {
    const aof = await startRedisServer({ appendOnly: true });
    try {
      const b = new RedisBroker({
        url: aof.url,
        visibilityTimeout: 3,
        restoreIntervalMs: 500,
        refreshIntervalMs: 500,
      });
      const q = uniqueName('restart');
      const ids = Array.from({ length: 300 }, (_, i) => `m${i}`);
      await b.publishMany(ids.map((id) => ({ queue: q, message: msg(id) })));
      const done = new Set<string>();
      const { received, errors } = await collect(b, [q], 10, (d) => {
        void sleep(5)
          .then(() => d.ack())
          .then(
            () => done.add(idOf(d)),
            () => undefined, // a lost ack: the message comes back after the visibility timeout
          );
      });
      await eventually('a third of the messages', () => received.length >= 100);
      await aof.restart({ downMs: 500 });
      await eventually('every message acked', () => done.size === 300, 30_000);
      expect([...done].sort()).toEqual([...ids].sort());
      expect(errors.some((e) => isCeleriacError(e, ErrorCodes.BROKER_UNAVAILABLE))).toBe(true);
      const check = new Redis(aof.url);
      await eventually(
        'nothing left in flight',
        async () => (await check.hlen('unacked')) === 0,
        10_000,
      );
      expect(await b.count(q)).toBe(0);
      console.log(
        `restart: ${received.length} deliveries for 300 messages, ${errors.length} error(s) reported`,
      );
      check.disconnect();
      await b.close();
    } finally {
      await aof.stop();
    }
  }, 60_000);
});

describe('RedisBroker: remote-control plumbing (kombu fanout and direct exchanges)', () => {
  it('hears what is published to a fanout exchange, as kombu publishes it', async () => {
    const broker = open();
    const heard: BrokerMessage[] = [];
    const exchange = uniqueName('fanout');
    const listener = await broker.control.listen(exchange, (m) => heard.push(m));
    // kombu's Redis fanout: PUBLISH /<db>.<exchange> <envelope> (db 0 here).
    const envelope = {
      body: Buffer.from('{"method": "ping"}').toString('base64'),
      'content-encoding': 'utf-8',
      'content-type': 'application/json',
      headers: { clock: 1, expires: 0 },
      properties: {
        delivery_mode: 2,
        delivery_info: { exchange, routing_key: '' },
        priority: 0,
        body_encoding: 'base64',
        delivery_tag: 't1',
      },
    };
    await raw.publish(`/0.${exchange}`, JSON.stringify(envelope));
    await raw.publish(`/0.${exchange}`, 'not an envelope');
    await raw.publish(`/0.other-${exchange}`, JSON.stringify(envelope));
    await eventually('the message', () => heard.length === 1);
    await sleep(100);
    expect(heard).toHaveLength(1);
    expect(heard[0]!.body.toString()).toBe('{"method": "ping"}');
    expect(heard[0]!.headers).toEqual({ clock: 1, expires: 0 });
    await listener.close();
    await raw.publish(`/0.${exchange}`, JSON.stringify(envelope));
    await sleep(100);
    expect(heard).toHaveLength(1);
  });

  it("sends to the queues a direct exchange binds with the routing key, through kombu's binding set", async () => {
    const broker = open();
    const exchange = uniqueName('direct');
    const [a, b] = [uniqueName('reply-a'), uniqueName('reply-b')];
    await raw.sadd(
      `_kombu.binding.${exchange}`,
      `key-a\x06\x16\x06\x16${a}`,
      `key-b\x06\x16\x06\x16${b}`,
    );
    expect(await broker.control.send(exchange, 'key-a', msg('r1'))).toBe(1);
    expect(await broker.control.send(exchange, 'nobody', msg('r2'))).toBe(0);
    expect(await raw.llen(b)).toBe(0);
    const raw1 = await raw.rpop(a);
    const env = JSON.parse(raw1!) as {
      headers: Record<string, unknown>;
      properties: Record<string, unknown>;
    };
    expect(env.headers['id']).toBe('r1');
    expect(env.properties['body_encoding']).toBe('base64');
  });
});
