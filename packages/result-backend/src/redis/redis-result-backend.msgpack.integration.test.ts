/**
 * msgpack results on a real Redis: written with `serializer: 'msgpack'` (Celery's
 * `result_serializer='msgpack'`), read in either format by any backend, through the fused
 * store-and-ack script with binary payloads, and the "never overwrite a SUCCESS" rule holding
 * across formats.
 */
import {
  buildResultDocument,
  msgpackSerializer,
  type BrokerMessage,
  type Delivery,
  type ResultDocument,
  type TaskState,
} from '@celeriac/core';
import type { RedisFusedAck } from '@celeriac/broker/redis/internal';
import { startRedisServer, uniqueName, type RedisServerHandle } from '@celeriac/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisResultBackend, type RedisResultBackendOptions } from './index.js';
import { resultFormat } from './result-codec.js';

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
  raw?.disconnect();
  await server?.stop();
});

function backend(options: Partial<RedisResultBackendOptions> = {}): RedisResultBackend {
  const b = new RedisResultBackend({ url, ...options });
  cleanups.push(() => b.close());
  return b;
}

function doc(taskId: string, status: TaskState, result: unknown = null): ResultDocument {
  const ready = status === 'SUCCESS' || status === 'FAILURE' || status === 'REVOKED';
  return buildResultDocument({
    taskId,
    status,
    result,
    children: [[['child-1', null], null]],
    dateDone: ready ? new Date('2026-03-04T05:06:07.890Z') : null,
  });
}

const key = (id: string): string => `celery-task-meta-${id}`;

describe('RedisResultBackend with serializer msgpack', () => {
  it('stores msgpack bytes at the key, which a JSON backend reads as the JSON path would', async () => {
    const writer = backend({ serializer: 'msgpack' });
    const reader = backend();
    const id = uniqueName('task');
    const stored = doc(id, 'FAILURE', {
      exc_type: 'ValueError',
      exc_message: ['bad'],
      exc_module: 'builtins',
    });
    stored.traceback = 'Traceback (most recent call last):\nValueError: bad\n';
    await writer.store(stored);
    const bytes = await raw.getBuffer(key(id));
    expect(resultFormat(bytes!)).toBe('msgpack');
    expect(msgpackSerializer.decode(bytes!)).toEqual(stored);
    expect(await reader.get(id)).toEqual(stored);
    expect(await writer.get(id)).toEqual(stored);

    const viaJson = uniqueName('task');
    await reader.store({ ...stored, task_id: viaJson });
    expect((await raw.getBuffer(key(viaJson)))![0]).toBe(0x7b);
    expect(await writer.get(viaJson)).toEqual({ ...stored, task_id: viaJson });
  });

  it('keeps binary and 64-bit values intact through the script (binary-safe arguments)', async () => {
    const b = backend({ serializer: 'msgpack' });
    const id = uniqueName('task');
    const value = { blob: Buffer.from([0x00, 0xff, 0x80, 0x0d, 0x0a]), big: 2n ** 62n };
    await b.store(doc(id, 'SUCCESS', value));
    const got = await b.get(id);
    expect(Buffer.from(got?.result ? (got.result as { blob: Uint8Array }).blob : [])).toEqual(
      value.blob,
    );
    expect((got?.result as { big: bigint }).big).toBe(2n ** 62n);
  });

  it('publishes msgpack on the channel: a waiting JSON backend is woken by it', async () => {
    const writer = backend({ serializer: 'msgpack' });
    const reader = backend();
    const id = uniqueName('task');
    const waiting = reader.waitFor(id, { timeoutMs: 5000 });
    const sub = new Redis(url);
    cleanups.push(() => sub.disconnect());
    const published = new Promise<Buffer>((resolve) => {
      sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => resolve(message));
    });
    await sub.subscribe(key(id));
    // Wait until the reader's own subscription is in place too.
    for (;;) {
      const [, n] = (await raw.pubsub('NUMSUB', key(id))) as [string, number];
      if (Number(n) >= 2) break;
      await new Promise((r) => setImmediate(r));
    }
    await writer.store(doc(id, 'STARTED'));
    await writer.store(doc(id, 'SUCCESS', { answer: 42 }));
    expect(resultFormat(await published)).toBe('msgpack');
    expect(await waiting).toEqual(doc(id, 'SUCCESS', { answer: 42 }));
  });

  it('never overwrites a stored SUCCESS in either format, whichever format comes later', async () => {
    const msgpack = backend({ serializer: 'msgpack' });
    const json = backend();
    for (const [first, later] of [
      [msgpack, json],
      [json, msgpack],
      [msgpack, msgpack],
    ] as const) {
      const id = uniqueName('task');
      await first.store(doc(id, 'SUCCESS', 'first'));
      await later.store(doc(id, 'FAILURE', 'later'));
      expect((await json.get(id))?.result).toBe('first');
    }
    // A stored msgpack RETRY (not ready) is overwritten as a JSON one is.
    const id = uniqueName('task');
    await msgpack.store(doc(id, 'RETRY', { exc_type: 'Retry', exc_message: [] }));
    await json.store(doc(id, 'SUCCESS', 'done'));
    expect((await msgpack.get(id))?.result).toBe('done');
  });

  it('a custom state and its meta read back alike from both formats', async () => {
    const msgpack = backend({ serializer: 'msgpack' });
    const json = backend();
    const a = uniqueName('task');
    const b = uniqueName('task');
    await msgpack.store(doc(a, 'PROGRESS', { current: 3, total: 10 }));
    await json.store(doc(b, 'PROGRESS', { current: 3, total: 10 }));
    const [fromMsgpack, fromJson] = await json.getMany([a, b]);
    expect({ ...fromMsgpack, task_id: b }).toEqual(fromJson);
  });

  it('stores and acks in one script call with msgpack payloads', async () => {
    const client = new Redis(url);
    cleanups.push(() => client.disconnect());
    await client.ping();
    const b = new RedisResultBackend({ client, serializer: 'msgpack' });
    cleanups.push(() => b.close());
    const hash = uniqueName('unacked');
    const zset = uniqueName('unacked_index');
    const ids = [uniqueName('task'), uniqueName('task')];
    const acks: string[] = [];
    const deliveries = ids.map((id): Delivery => {
      const tag = `tag-${id}`;
      return {
        message: {} as BrokerMessage,
        queue: 'q',
        deliveryTag: tag,
        redelivered: false,
        ack: () => {
          acks.push(tag);
          return Promise.resolve();
        },
        requeue: () => Promise.resolve(),
        deadLetter: () => Promise.resolve(),
        fusedAck: (): RedisFusedAck => ({
          transport: 'redis',
          target: url,
          commands: [
            ['HDEL', hash, tag],
            ['ZREM', zset, tag],
          ],
          settled: () => undefined,
        }),
      };
    });
    for (const d of deliveries) {
      await raw.hset(hash, d.deliveryTag, '["envelope","celery","q"]');
      await raw.zadd(zset, 1, d.deliveryTag);
    }
    await Promise.all(
      ids.map((id, i) => b.store(doc(id, 'SUCCESS', { i }), { ack: deliveries[i]! })),
    );
    expect(acks).toEqual([]); // fused: the script acked, not ack()
    expect(await raw.hlen(hash)).toBe(0);
    expect(await raw.zcard(zset)).toBe(0);
    for (const [i, id] of ids.entries()) {
      expect(resultFormat((await raw.getBuffer(key(id)))!)).toBe('msgpack');
      expect((await b.get(id))?.result).toEqual({ i });
    }
  });

  it('refuses a serializer it does not know, naming the option', () => {
    expect(() => new RedisResultBackend({ url, serializer: 'pickle' as 'json' })).toThrow(
      /serializer/,
    );
  });
});
