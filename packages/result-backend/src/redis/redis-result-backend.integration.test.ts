import {
  buildResultDocument,
  isCeleriacError,
  type BrokerMessage,
  type Delivery,
  type ResultDocument,
  type TaskState,
} from '@celeriac/core';
import { freePort, startRedisServer, uniqueName, type RedisServerHandle } from '@celeriac/testing';
import type { RedisFusedAck } from '@celeriac/broker/redis/internal';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisResultBackend, type RedisResultBackendOptions } from './index.js';

const DAY_MS = 24 * 60 * 60 * 1000;

let server: RedisServerHandle | undefined;
let url: string;
let raw: Redis;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  const fromEnv = process.env['REDIS_URL'];
  if (fromEnv) {
    url = fromEnv;
  } else {
    server = await startRedisServer();
    url = server.url;
  }
  raw = new Redis(url);
});

afterEach(async () => {
  await Promise.allSettled(cleanups.splice(0).map((c) => Promise.resolve().then(c)));
});

afterAll(async () => {
  raw.disconnect();
  await server?.stop();
});

function backend(options: Partial<RedisResultBackendOptions> = {}): RedisResultBackend {
  const b = new RedisResultBackend({ url, ...options });
  cleanups.push(() => b.close());
  return b;
}

function rawClient(target = url): Redis {
  const c = new Redis(target);
  cleanups.push(() => c.disconnect());
  return c;
}

function doc(taskId: string, status: TaskState, result: unknown = null): ResultDocument {
  const ready = status === 'SUCCESS' || status === 'FAILURE' || status === 'REVOKED';
  return buildResultDocument({
    taskId,
    status,
    result,
    dateDone: ready ? new Date('2026-03-04T05:06:07.890Z') : null,
  });
}

/** Settles to 'pending' when `p` has not settled within `ms`. */
async function stateAfter(
  p: Promise<unknown>,
  ms: number,
): Promise<'pending' | 'resolved' | 'rejected'> {
  return Promise.race([
    p.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    sleep(ms).then(() => 'pending' as const),
  ]);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

async function clientNames(prefix: string): Promise<string[]> {
  const list = (await raw.client('LIST')) as string;
  return list
    .split('\n')
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '')
    .filter((n) => n.startsWith(prefix));
}

async function numsub(channel: string): Promise<number> {
  const reply = (await raw.pubsub('NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('RedisResultBackend: Celery layout', () => {
  it('stores JSON at celery-task-meta-<id> in Celery key order', async () => {
    const b = backend();
    const id = uniqueName('task');
    const d = buildResultDocument({
      taskId: id,
      status: 'SUCCESS',
      result: { sum: 3, at: new Date('2026-01-02T03:04:05Z') },
      dateDone: new Date('2026-03-04T05:06:07.890Z'),
      parentId: 'parent-1',
    });
    await b.store(d);

    const text = await raw.get(`celery-task-meta-${id}`);
    expect(text).not.toBeNull();
    const parsed = JSON.parse(text ?? '') as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual([
      'status',
      'result',
      'traceback',
      'children',
      'date_done',
      'parent_id',
      'task_id',
    ]);
    expect(parsed).toEqual({
      status: 'SUCCESS',
      result: { sum: 3, at: '2026-01-02T03:04:05+00:00' },
      traceback: null,
      children: [],
      date_done: '2026-03-04T05:06:07.890000+00:00',
      task_id: id,
      parent_id: 'parent-1',
    });
    expect(await b.get(id)).toEqual(parsed);
  });

  it('sets a TTL: one day by default, expiresMs when given, resultExpiresMs per backend', async () => {
    const id1 = uniqueName('task');
    const id2 = uniqueName('task');
    const id3 = uniqueName('task');
    await backend().store(doc(id1, 'SUCCESS'));
    await backend().store(doc(id2, 'SUCCESS'), { expiresMs: 5000 });
    await backend({ resultExpiresMs: 60_000 }).store(doc(id3, 'SUCCESS'));

    const ttl1 = await raw.pttl(`celery-task-meta-${id1}`);
    expect(ttl1).toBeGreaterThan(DAY_MS - 10_000);
    expect(ttl1).toBeLessThanOrEqual(DAY_MS);
    const ttl2 = await raw.pttl(`celery-task-meta-${id2}`);
    expect(ttl2).toBeGreaterThan(0);
    expect(ttl2).toBeLessThanOrEqual(5000);
    const ttl3 = await raw.pttl(`celery-task-meta-${id3}`);
    expect(ttl3).toBeGreaterThan(50_000);
    expect(ttl3).toBeLessThanOrEqual(60_000);
  });

  it('refuses a TTL that would keep results forever', async () => {
    expect(() => new RedisResultBackend({ url, resultExpiresMs: 0 })).toThrow(
      expect.objectContaining({ code: 'CELERIAC_ERR_INVALID_OPTION' }),
    );
    const err = await rejection(
      backend().store(doc(uniqueName('t'), 'SUCCESS'), { expiresMs: -1 }),
    );
    expect(isCeleriacError(err, 'CELERIAC_ERR_INVALID_OPTION')).toBe(true);
  });

  it('publishes the document on the channel named like the key', async () => {
    const b = backend();
    const id = uniqueName('task');
    const key = `celery-task-meta-${id}`;
    const sub = rawClient();
    const received: string[] = [];
    sub.on('message', (channel: string, message: string) => {
      if (channel === key) received.push(message);
    });
    await sub.subscribe(key);
    await b.store(doc(id, 'STARTED'));
    await b.store(doc(id, 'SUCCESS', 42));
    await eventually(() => received.length === 2);
    expect(received.map((m) => (JSON.parse(m) as ResultDocument).status)).toEqual([
      'STARTED',
      'SUCCESS',
    ]);
    expect(received[1]).toBe(await raw.get(key));
  });

  it('never overwrites a stored SUCCESS, and does not publish the refused write', async () => {
    const b = backend();
    const id = uniqueName('task');
    const key = `celery-task-meta-${id}`;
    const sub = rawClient();
    const received: string[] = [];
    sub.on('message', (_c: string, m: string) => received.push(m));
    await sub.subscribe(key);

    await b.store(doc(id, 'STARTED'));
    await b.store(doc(id, 'SUCCESS', 'first'));
    await b.store(
      doc(id, 'FAILURE', { exc_type: 'ValueError', exc_message: ['late'], exc_module: 'builtins' }),
    );
    await b.store(doc(id, 'STARTED'));
    await b.store(doc(id, 'SUCCESS', 'second'));

    expect(await b.get(id)).toMatchObject({ status: 'SUCCESS', result: 'first' });
    await sleep(50);
    expect(received.map((m) => (JSON.parse(m) as ResultDocument).status)).toEqual([
      'STARTED',
      'SUCCESS',
    ]);
  });

  it('the SUCCESS check holds under concurrent stores from many backends', async () => {
    const id = uniqueName('task');
    const writers = Array.from({ length: 8 }, () => backend());
    await Promise.all(
      writers.flatMap((w, i) => [
        w.store(doc(id, 'SUCCESS', `winner-${i}`)),
        w.store(doc(id, 'FAILURE', { exc_type: 'E', exc_message: [], exc_module: 'builtins' })),
      ]),
    );
    const final = await writers[0]?.get(id);
    // Whatever came first, once a SUCCESS is in, nothing replaces it.
    if (final?.status === 'SUCCESS') {
      await writers[1]?.store(doc(id, 'FAILURE'));
      expect(await writers[2]?.get(id)).toEqual(final);
    } else {
      expect(final?.status).toBe('FAILURE');
    }
  });

  it('decodes kombu markers through the JSON serializer', async () => {
    const id = uniqueName('task');
    await raw.set(
      `celery-task-meta-${id}`,
      JSON.stringify({
        status: 'SUCCESS',
        result: { when: { __type__: 'datetime', __value__: '2026-01-02T03:04:05+00:00' } },
        traceback: null,
        children: [],
        date_done: '2026-01-02T03:04:06.123456',
        task_id: id,
      }),
      'PX',
      60_000,
    );
    const got = await backend().get(id);
    const when = (got?.result as { when: unknown }).when;
    expect(when).toBeInstanceOf(Date);
    expect((when as Date).toISOString()).toBe('2026-01-02T03:04:05.000Z');
  });

  it('get / getMany / forget', async () => {
    const b = backend();
    const a = uniqueName('task');
    const c = uniqueName('task');
    await b.store(doc(a, 'SUCCESS', 1));
    await b.store(doc(c, 'FAILURE'));
    expect(await b.get(uniqueName('missing'))).toBeNull();
    const many = await b.getMany([a, uniqueName('missing'), c]);
    expect(many.map((d) => d?.status ?? null)).toEqual(['SUCCESS', null, 'FAILURE']);
    expect(await b.getMany([])).toEqual([]);
    await b.forget(a);
    expect(await b.get(a)).toBeNull();
    expect(await raw.exists(`celery-task-meta-${a}`)).toBe(0);
  });

  it('getMany is one MGET', async () => {
    const client = rawClient();
    await client.ping();
    const b = new RedisResultBackend({ client });
    cleanups.push(() => b.close());
    const ids = Array.from({ length: 20 }, () => uniqueName('task'));
    await Promise.all(ids.map((id) => b.store(doc(id, 'SUCCESS', id))));
    const sent = vi.spyOn(client, 'sendCommand');
    const docs = await b.getMany(ids);
    expect(docs.map((d) => d?.result)).toEqual(ids);
    expect(sent.mock.calls.map(([cmd]) => cmd.name)).toEqual(['mget']);
  });

  it('a custom keyPrefix names keys and channels', async () => {
    const prefix = `${uniqueName('app')}-meta-`;
    const b = backend({ keyPrefix: prefix });
    const id = uniqueName('task');
    const waiting = b.waitFor(id, { timeoutMs: 5000 });
    await b.store(doc(id, 'SUCCESS', 7));
    expect((await waiting).result).toBe(7);
    expect(await raw.exists(`${prefix}${id}`)).toBe(1);
    expect(await raw.exists(`celery-task-meta-${id}`)).toBe(0);
  });

  it('reports a value that is not a result document as a serialization error', async () => {
    const id = uniqueName('task');
    await raw.set(`celery-task-meta-${id}`, '\x80not json', 'PX', 60_000);
    const err = await rejection(backend().get(id));
    expect(isCeleriacError(err, 'CELERIAC_ERR_SERIALIZATION')).toBe(true);
  });
});

describe('RedisResultBackend: waitFor', () => {
  it('resolves when the result is stored after the wait began, not on unready states', async () => {
    const b = backend();
    const id = uniqueName('task');
    const waiting = b.waitFor(id, { timeoutMs: 5000 });
    await eventually(async () => (await numsub(`celery-task-meta-${id}`)) === 1);
    await b.store(doc(id, 'STARTED'));
    await raw.publish(`celery-task-meta-${id}`, JSON.stringify(doc(id, 'PROGRESS', { done: 5 })));
    await b.store(doc(id, 'RETRY'));
    expect(await stateAfter(waiting, 100)).toBe('pending');
    await b.store(doc(id, 'SUCCESS', 'ok'));
    expect(await waiting).toMatchObject({ status: 'SUCCESS', result: 'ok', task_id: id });
  });

  it('resolves at once when the result was stored before the wait', async () => {
    const b = backend();
    const id = uniqueName('task');
    await b.store(
      doc(id, 'FAILURE', { exc_type: 'KeyError', exc_message: ['k'], exc_module: 'builtins' }),
    );
    await expect(b.waitFor(id, { timeoutMs: 2000 })).resolves.toMatchObject({ status: 'FAILURE' });
  });

  it('is woken by a store from another backend (another process)', async () => {
    const reader = backend();
    const writer = backend();
    const id = uniqueName('task');
    const waiting = reader.waitFor(id, { timeoutMs: 5000 });
    await sleep(20);
    await writer.store(doc(id, 'REVOKED'));
    await expect(waiting).resolves.toMatchObject({ status: 'REVOKED' });
  });

  it('times out with CELERIAC_ERR_TIMEOUT naming the task and the last state seen', async () => {
    const b = backend();
    const id = uniqueName('task');
    await b.store(doc(id, 'STARTED'));
    const started = Date.now();
    const err = await rejection(b.waitFor(id, { timeoutMs: 150 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(isCeleriacError(err, 'CELERIAC_ERR_TIMEOUT')).toBe(true);
    expect((err as Error).message).toContain(id);
    expect((err as Error).message).toContain('STARTED');
    // The timed-out wait left its channel.
    await eventually(async () => (await numsub(`celery-task-meta-${id}`)) === 0);
  });

  it('rejects with the signal reason on abort, also when already aborted', async () => {
    const b = backend();
    const id = uniqueName('task');
    const controller = new AbortController();
    const waiting = b.waitFor(id, { signal: controller.signal });
    const reason = new Error('user gave up');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await expect(b.waitFor(id, { signal: controller.signal })).rejects.toBe(reason);
  });

  it('many waiters share one subscriber connection and one subscription per id', async () => {
    const name = uniqueName('rb');
    const b = backend({ redisOptions: { connectionName: name } });
    const shared = uniqueName('task');
    const ids = Array.from({ length: 100 }, () => uniqueName('task'));
    const waits = [
      ...ids.map((id) => b.waitFor(id, { timeoutMs: 10_000 })),
      ...Array.from({ length: 10 }, () => b.waitFor(shared, { timeoutMs: 10_000 })),
    ];
    await eventually(async () => (await numsub(`celery-task-meta-${shared}`)) === 1);
    await eventually(async () => (await numsub(`celery-task-meta-${ids[99] ?? ''}`)) === 1);
    await b.store(doc(uniqueName('task'), 'STARTED')); // opens the command connection too
    expect((await clientNames(name)).sort()).toEqual([name, `${name}-sub`]);
    expect(await numsub(`celery-task-meta-${shared}`)).toBe(1);

    await Promise.all([...ids, shared].map((id) => b.store(doc(id, 'SUCCESS', id))));
    const docs = await Promise.all(waits);
    expect(docs.slice(0, 100).map((d) => d.result)).toEqual(ids);
    expect(docs.slice(100).every((d) => d.result === shared)).toBe(true);
    // Every channel was unsubscribed once its waiters were served; the connection stays.
    await eventually(async () => (await numsub(`celery-task-meta-${shared}`)) === 0);
    expect(await numsub(`celery-task-meta-${ids[0] ?? ''}`)).toBe(0);
    expect(await clientNames(`${name}-sub`)).toHaveLength(1);
  });

  it('one waiter leaving keeps the subscription for the others on the same id', async () => {
    const b = backend();
    const id = uniqueName('task');
    const controller = new AbortController();
    const leaving = b.waitFor(id, { signal: controller.signal });
    const staying = b.waitFor(id, { timeoutMs: 5000 });
    await eventually(async () => (await numsub(`celery-task-meta-${id}`)) === 1);
    controller.abort(new Error('bye'));
    await expect(leaving).rejects.toThrow('bye');
    await sleep(30);
    expect(await numsub(`celery-task-meta-${id}`)).toBe(1);
    await backend().store(doc(id, 'SUCCESS'));
    await expect(staying).resolves.toMatchObject({ status: 'SUCCESS' });
  });

  it('a new wait right after the last one left still gets the result', async () => {
    const b = backend();
    const id = uniqueName('task');
    const c = new AbortController();
    const first = b.waitFor(id, { signal: c.signal });
    c.abort(new Error('gone'));
    await expect(first).rejects.toThrow('gone');
    const second = b.waitFor(id, { timeoutMs: 5000 }); // UNSUBSCRIBE and SUBSCRIBE cross
    await sleep(20);
    await backend().store(doc(id, 'SUCCESS', 2));
    await expect(second).resolves.toMatchObject({ result: 2 });
  });
});

describe('RedisResultBackend: store + ack', () => {
  interface FakeDelivery extends Delivery {
    acks: number;
    settles: number;
  }

  function fakeDelivery(target: string, hash: string, zset: string, tag: string): FakeDelivery {
    const d: FakeDelivery = {
      message: {} as BrokerMessage,
      queue: 'q',
      deliveryTag: tag,
      redelivered: false,
      acks: 0,
      settles: 0,
      ack: async () => {
        d.acks++;
        await raw.multi().hdel(hash, tag).zrem(zset, tag).exec();
      },
      requeue: () => Promise.resolve(),
      deadLetter: () => Promise.resolve(),
      fusedAck: (): RedisFusedAck => ({
        transport: 'redis',
        target,
        commands: [
          ['HDEL', hash, tag],
          ['ZREM', zset, tag],
        ],
        settled: () => {
          d.settles++;
        },
      }),
    };
    return d;
  }

  async function inFlight(hash: string, zset: string, tag: string): Promise<void> {
    await raw.hset(hash, tag, '["envelope","celery","q"]');
    await raw.zadd(zset, Date.now() / 1000, tag);
    await raw.pexpire(hash, 60_000);
    await raw.pexpire(zset, 60_000);
  }

  function sameServerTarget(db = Number(new URL(url).pathname.slice(1) || 0)): string {
    const u = new URL(url);
    // Another spelling of the same server: normalization must still match it.
    const host = u.hostname === '127.0.0.1' ? 'localhost' : u.hostname;
    return `redis://${host}:${u.port || 6379}/${db}`;
  }

  it('on the same server and db: one round trip, both effects, ack() not called', async () => {
    const client = rawClient();
    await client.ping();
    const b = new RedisResultBackend({ client });
    cleanups.push(() => b.close());
    await b.store(doc(uniqueName('warmup'), 'SUCCESS')); // the script's first use sends its body

    const hash = uniqueName('unacked');
    const zset = uniqueName('unacked_index');
    const tag = uniqueName('tag');
    await inFlight(hash, zset, tag);
    const delivery = fakeDelivery(sameServerTarget(), hash, zset, tag);
    const id = uniqueName('task');

    const writes = vi.spyOn(client.stream, 'write');
    await b.store(doc(id, 'SUCCESS', 'fused'), { ack: delivery });
    expect(writes).toHaveBeenCalledTimes(1);
    writes.mockRestore();

    expect(delivery.acks).toBe(0);
    expect(delivery.settles).toBe(1);
    expect(await raw.hexists(hash, tag)).toBe(0);
    expect(await raw.zscore(zset, tag)).toBeNull();
    expect(await b.get(id)).toMatchObject({ status: 'SUCCESS', result: 'fused' });
  });

  it('MONITOR sees the write, then the ack commands, inside the one script', async () => {
    const b = backend();
    const hash = uniqueName('unacked');
    const zset = uniqueName('unacked_index');
    const tag = uniqueName('tag');
    await inFlight(hash, zset, tag);
    const monitor = await rawClient().monitor();
    cleanups.push(() => monitor.disconnect());
    const seen: string[][] = [];
    const id = uniqueName('task');
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((a) => a === tag || a.includes(hash) || a.includes(id))) seen.push(args);
    });
    await b.store(doc(id, 'SUCCESS'), {
      ack: fakeDelivery(sameServerTarget(), hash, zset, tag),
    });
    await eventually(() => seen.length >= 5);
    // One script call from the client (EVAL the first time, EVALSHA after); inside it GET, SET,
    // PUBLISH of the result, then the ack.
    const names = seen.map((a) => a[0]?.toUpperCase());
    expect(names[0]).toMatch(/^EVAL(SHA)?$/);
    expect(names.slice(1)).toEqual(['GET', 'SET', 'PUBLISH', 'HDEL', 'ZREM']);
  });

  it('MONITOR: stores sharing a call ack with one HDEL and one ZREM for all of them', async () => {
    const b = backend();
    const hash = uniqueName('unacked');
    const zset = uniqueName('unacked_index');
    const tags = [uniqueName('tag'), uniqueName('tag'), uniqueName('tag')];
    for (const tag of tags) await inFlight(hash, zset, tag);
    const monitor = await rawClient().monitor();
    cleanups.push(() => monitor.disconnect());
    const seen: string[][] = [];
    const ids = tags.map(() => uniqueName('task'));
    monitor.on('monitor', (_time: string, args: string[]) => {
      const ours = (a: string): boolean =>
        a === hash || a === zset || ids.some((id) => a.includes(id));
      if (args.some(ours)) seen.push(args);
    });
    await Promise.all(
      ids.map((id, i) =>
        b.store(doc(id, 'SUCCESS'), {
          ack: fakeDelivery(sameServerTarget(), hash, zset, tags[i]!),
        }),
      ),
    );
    await eventually(() => seen.length >= 12);
    const names = seen.map((a) => a[0]?.toUpperCase());
    expect(names[0]).toMatch(/^EVAL(SHA)?$/);
    expect(names.slice(1)).toEqual([
      ...['GET', 'SET', 'PUBLISH'],
      ...['GET', 'SET', 'PUBLISH'],
      ...['GET', 'SET', 'PUBLISH'],
      'HDEL',
      'ZREM',
    ]);
    expect(seen.at(-2)).toEqual(['HDEL', hash, ...tags]);
    expect(seen.at(-1)).toEqual(['ZREM', zset, ...tags]);
  });

  it('on another database: stores, then calls ack()', async () => {
    const b = backend();
    const hash = uniqueName('unacked');
    const zset = uniqueName('unacked_index');
    const tag = uniqueName('tag');
    await inFlight(hash, zset, tag);
    const dbOfUrl = Number(new URL(url).pathname.slice(1) || 0);
    const delivery = fakeDelivery(sameServerTarget(dbOfUrl === 5 ? 6 : 5), hash, zset, tag);
    const id = uniqueName('task');
    await b.store(doc(id, 'SUCCESS'), { ack: delivery });
    expect(delivery.acks).toBe(1);
    expect(delivery.settles).toBe(0);
    expect(await raw.hexists(hash, tag)).toBe(0);
    expect(await b.get(id)).toMatchObject({ status: 'SUCCESS' });
  });

  it('without fusedAck: stores, then calls ack()', async () => {
    const b = backend();
    const hash = uniqueName('unacked');
    const delivery = fakeDelivery(sameServerTarget(), hash, uniqueName('z'), uniqueName('tag'));
    delete delivery.fusedAck;
    await b.store(doc(uniqueName('task'), 'SUCCESS'), { ack: delivery });
    expect(delivery.acks).toBe(1);
  });

  it("with another transport's fused ack on the same target: stores, then calls ack()", async () => {
    const b = backend();
    const hash = uniqueName('unacked');
    const delivery = fakeDelivery(sameServerTarget(), hash, uniqueName('z'), uniqueName('tag'));
    delivery.fusedAck = () => ({ transport: 'amqp', target: sameServerTarget() });
    await b.store(doc(uniqueName('task'), 'SUCCESS'), { ack: delivery });
    expect(delivery.acks).toBe(1);
    expect(delivery.settles).toBe(0);
  });

  it('a refused write (stored SUCCESS) still acks the message in the same round trip', async () => {
    const b = backend();
    const id = uniqueName('task');
    await b.store(doc(id, 'SUCCESS', 'first'));
    const hash = uniqueName('unacked');
    const zset = uniqueName('unacked_index');
    const tag = uniqueName('tag');
    await inFlight(hash, zset, tag);
    const delivery = fakeDelivery(sameServerTarget(), hash, zset, tag);
    await b.store(doc(id, 'SUCCESS', 'again'), { ack: delivery });
    expect(delivery.settles).toBe(1);
    expect(await raw.hexists(hash, tag)).toBe(0);
    expect(await b.get(id)).toMatchObject({ result: 'first' });
  });

  it('stores made in one turn share one script call; one that fails fails alone', async () => {
    const client = rawClient();
    await client.ping();
    const b = new RedisResultBackend({ client });
    cleanups.push(() => b.close());
    await b.store(doc(uniqueName('warmup'), 'SUCCESS')); // the script's first use sends its body

    const hash = uniqueName('unacked');
    const zset = uniqueName('unacked_index');
    const tags = [uniqueName('tag'), uniqueName('tag'), uniqueName('tag')];
    for (const tag of tags) await inFlight(hash, zset, tag);
    const deliveries = tags.map((tag) => fakeDelivery(sameServerTarget(), hash, zset, tag));
    const ids = [uniqueName('task'), uniqueName('task'), uniqueName('task')];
    const broken = uniqueName('task');
    await raw.rpush(`celery-task-meta-${broken}`, 'not a string'); // GET on a list: WRONGTYPE
    await raw.pexpire(`celery-task-meta-${broken}`, 60_000);

    const writes = vi.spyOn(client.stream, 'write');
    const settled = await Promise.allSettled([
      ...ids.map((id, i) => b.store(doc(id, 'SUCCESS', i), { ack: deliveries[i]! })),
      b.store(doc(broken, 'SUCCESS')),
    ]);
    expect(writes).toHaveBeenCalledTimes(1);
    writes.mockRestore();

    expect(settled.slice(0, 3).map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    const failure = settled[3]!;
    expect(failure.status).toBe('rejected');
    expect(
      isCeleriacError(
        (failure as PromiseRejectedResult).reason,
        'CELERIAC_ERR_BACKEND_UNAVAILABLE',
      ),
    ).toBe(true);
    expect(String((failure as PromiseRejectedResult).reason)).toContain('WRONGTYPE');
    expect(deliveries.map((d) => [d.settles, d.acks])).toEqual([
      [1, 0],
      [1, 0],
      [1, 0],
    ]);
    expect(await raw.hlen(hash)).toBe(0);
    expect(await raw.zcard(zset)).toBe(0);
    expect((await b.getMany(ids)).map((d) => d?.result)).toEqual([0, 1, 2]);
  });

  it('a fused store that fails in a shared call falls back alone; the others stay fused', async () => {
    const b = backend();
    const hash = uniqueName('unacked');
    const zset = uniqueName('unacked_index');
    const good = uniqueName('tag');
    await inFlight(hash, zset, good);
    const wrongHash = uniqueName('unacked');
    await raw.set(wrongHash, 'not a hash', 'PX', 60_000); // HDEL on a string: WRONGTYPE
    const ok = fakeDelivery(sameServerTarget(), hash, zset, good);
    const bad = fakeDelivery(sameServerTarget(), wrongHash, uniqueName('z'), uniqueName('tag'));
    bad.ack = () => {
      bad.acks++;
      return Promise.resolve();
    };
    const [okId, badId] = [uniqueName('task'), uniqueName('task')];
    await Promise.all([
      b.store(doc(okId, 'SUCCESS', 'ok'), { ack: ok }),
      b.store(doc(badId, 'SUCCESS', 'bad'), { ack: bad }),
    ]);
    expect([ok.settles, ok.acks]).toEqual([1, 0]);
    expect([bad.settles, bad.acks]).toEqual([0, 1]);
    expect(await raw.hexists(hash, good)).toBe(0);
    expect((await b.getMany([okId, badId])).map((d) => d?.result)).toEqual(['ok', 'bad']);
  });

  it('when a fused ack command fails, falls back to ack()', async () => {
    const b = backend();
    const hash = uniqueName('unacked');
    const tag = uniqueName('tag');
    await raw.set(hash, 'not a hash', 'PX', 60_000); // HDEL on a string: WRONGTYPE
    const delivery = fakeDelivery(sameServerTarget(), hash, uniqueName('z'), tag);
    delivery.ack = () => {
      delivery.acks++;
      return Promise.resolve();
    };
    const id = uniqueName('task');
    await b.store(doc(id, 'SUCCESS'), { ack: delivery });
    expect(delivery.settles).toBe(0);
    expect(delivery.acks).toBe(1);
    expect(await b.get(id)).toMatchObject({ status: 'SUCCESS' });
  });
});

describe('RedisResultBackend: lifecycle and errors', () => {
  it('close rejects pending waits with CLOSED, is idempotent, and refuses later calls', async () => {
    const b = new RedisResultBackend({ url });
    const waiting = rejection(b.waitFor(uniqueName('task')));
    await sleep(20);
    await Promise.all([b.close(), b.close()]);
    await b.close();
    expect(isCeleriacError(await waiting, 'CELERIAC_ERR_CLOSED')).toBe(true);
    expect(
      isCeleriacError(await rejection(b.store(doc('x', 'SUCCESS'))), 'CELERIAC_ERR_CLOSED'),
    ).toBe(true);
    expect(isCeleriacError(await rejection(b.waitFor('x')), 'CELERIAC_ERR_CLOSED')).toBe(true);
    expect(isCeleriacError(await rejection(b.get('x')), 'CELERIAC_ERR_CLOSED')).toBe(true);
  });

  it('close leaves a client it was given open, and closes what it opened', async () => {
    const name = uniqueName('given');
    const client = new Redis(url, { connectionName: name });
    cleanups.push(() => client.disconnect());
    const b = new RedisResultBackend({ client });
    const id = uniqueName('task');
    const waiting = b.waitFor(id, { timeoutMs: 5000 });
    await sleep(20);
    await b.store(doc(id, 'SUCCESS'));
    await waiting;
    expect((await clientNames(name)).sort()).toEqual([name, `${name}-sub`]);
    await b.close();
    expect(await client.ping()).toBe('PONG');
    await eventually(async () => (await clientNames(name)).length === 1);
  });

  it('a backend that never connected closes without connecting', async () => {
    const b = new RedisResultBackend({ url: `redis://127.0.0.1:${await freePort()}` });
    await b.close();
  });

  it('unreachable Redis: BACKEND_UNAVAILABLE naming the URL, with a fix', async () => {
    const port = await freePort();
    const b = backend({
      url: `redis://:secret@127.0.0.1:${port}/0`,
      redisOptions: { maxRetriesPerRequest: 0, retryStrategy: () => null },
    });
    const failures = [
      b.get('x'),
      b.store(doc('x', 'SUCCESS')),
      b.waitFor('x', { timeoutMs: 5000 }),
    ].map(rejection);
    for (const err of await Promise.all(failures)) {
      expect(isCeleriacError(err, 'CELERIAC_ERR_BACKEND_UNAVAILABLE')).toBe(true);
      const message = (err as Error).message;
      expect(message).toContain(`127.0.0.1:${port}`);
      expect(message).toContain('redis-server is running');
      expect(message).not.toContain('secret');
    }
  });

  it('rejects URLs that are not redis', () => {
    expect(() => new RedisResultBackend({ url: 'amqp://localhost' })).toThrow(
      expect.objectContaining({ code: 'CELERIAC_ERR_UNSUPPORTED_URL' }),
    );
    expect(() => new RedisResultBackend({})).toThrow(
      expect.objectContaining({ code: 'CELERIAC_ERR_INVALID_OPTION' }),
    );
  });
});

describe('RedisResultBackend: Redis restarts', () => {
  let own: RedisServerHandle;

  beforeAll(async () => {
    own = await startRedisServer({ appendOnly: true });
  });
  afterAll(async () => {
    await own.stop();
  });

  it('a wait pending across a restart resolves on a store after it', async () => {
    const b = new RedisResultBackend({ url: own.url, redisOptions: { retryStrategy: () => 50 } });
    cleanups.push(() => b.close());
    const id = uniqueName('task');
    const waiting = b.waitFor(id, { timeoutMs: 15_000 });
    await sleep(50);
    await own.restart({ downMs: 200 });
    const writer = new RedisResultBackend({ url: own.url });
    cleanups.push(() => writer.close());
    await writer.store(doc(id, 'SUCCESS', 'after restart'));
    await expect(waiting).resolves.toMatchObject({ result: 'after restart' });
    // The backend's own connections are back too.
    expect(await b.get(id)).toMatchObject({ status: 'SUCCESS' });
  });

  it('waits begun while the subscriber reconnects all resolve (none subscribes mid-handshake)', async () => {
    // A SUBSCRIBE written while ioredis sets a new connection up put it in subscriber mode
    // before its ready check (INFO), which then failed and rejected the wait: seen in a
    // failover, where waits begin all through the reconnection. Begin one at every turn.
    const b = new RedisResultBackend({ url: own.url, redisOptions: { retryStrategy: () => 10 } });
    cleanups.push(() => b.close());
    const writer = new RedisResultBackend({
      url: own.url,
      redisOptions: { retryStrategy: () => 10 },
    });
    cleanups.push(() => writer.close());
    const first = uniqueName('task');
    const waits = [b.waitFor(first, { timeoutMs: 20_000 })];
    await sleep(50);
    await own.kill();
    const ids: string[] = [];
    let spinning = true;
    const spin = (async () => {
      while (spinning) {
        const id = uniqueName('task');
        ids.push(id);
        const w = b.waitFor(id, { timeoutMs: 20_000 });
        w.catch(() => undefined); // awaited below, all together
        waits.push(w);
        await new Promise((r) => setImmediate(r));
      }
    })();
    await own.start();
    // The first wait resolves once the subscriber is back and has subscribed again.
    await writer.store(doc(first, 'SUCCESS', 'first'));
    await waits[0];
    spinning = false;
    await spin;
    await Promise.all(ids.map((id) => writer.store(doc(id, 'SUCCESS', id))));
    const docs = await Promise.all(waits);
    expect(docs.map((d) => d.result)).toEqual(['first', ...ids]);
  });

  it('a result written while the subscriber was away is not missed', async () => {
    // The backend reconnects only after 800 ms, so the result lands while its subscriber
    // is disconnected; written without PUBLISH, only the re-read after re-subscribing sees it.
    const b = new RedisResultBackend({ url: own.url, redisOptions: { retryStrategy: () => 800 } });
    cleanups.push(() => b.close());
    const id = uniqueName('task');
    const waiting = b.waitFor(id, { timeoutMs: 15_000 });
    await sleep(50);
    await own.kill();
    await own.start();
    const writer = new Redis(own.url);
    cleanups.push(() => writer.disconnect());
    await writer.set(
      `celery-task-meta-${id}`,
      JSON.stringify(doc(id, 'SUCCESS', 'quiet')),
      'PX',
      60_000,
    );
    await expect(waiting).resolves.toMatchObject({ result: 'quiet' });
  });
});
