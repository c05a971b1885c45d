import { uniqueName } from '@celeriac/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compileEntry, definitionHash } from '../entry.js';
import { interval } from '../schedules/interval.js';
import { scheduleStoreContract } from '../store/schedule-store-contract.test-helper.js';
import { beatKeys } from './keys.js';
import { RedisScheduleStore } from './redis-schedule-store.js';

const url = inject('redisUrl');
let admin: Redis;

beforeAll(() => {
  admin = new Redis(url);
});
afterAll(async () => {
  await admin.quit();
});

async function dropNamespace(namespace: string): Promise<void> {
  const keys = await admin.keys(`_celeriac.beat.{${namespace}}.*`);
  if (keys.length > 0) await admin.del(...keys);
}

scheduleStoreContract('RedisScheduleStore', () => {
  const namespace = uniqueName('beat');
  const store = new RedisScheduleStore({ url, namespace });
  const peers: RedisScheduleStore[] = [];
  return Promise.resolve({
    store,
    peer: () => {
      const peer = new RedisScheduleStore({ url, namespace, origin: 'peer' });
      peers.push(peer);
      return Promise.resolve(peer);
    },
    cleanup: async () => {
      await Promise.all([store, ...peers].map((s) => s.close()));
      await dropNamespace(namespace);
    },
  });
});

function w(name: string) {
  const { definition } = compileEntry(
    { name, task: 't', schedule: interval(60) },
    { timezone: 'UTC' },
  );
  return {
    definition,
    hash: definitionHash(definition),
    enabled: true,
    source: 'api' as const,
    nextRunAt: 1000,
    dueAt: 1000,
  };
}

describe('RedisScheduleStore', () => {
  it('keeps every key bounded: a TTL or a cap', async () => {
    const namespace = uniqueName('beat');
    const store = new RedisScheduleStore({ url, namespace, maxEntries: 2 });
    const k = beatKeys(namespace);
    expect((await store.upsert([w('a'), w('b'), w('c')], 'sync', 0)).map((r) => r.status)).toEqual([
      'created',
      'created',
      'full',
    ]);
    const r = await store.acquireLeadership('me', 5000, 0);
    if (!r.acquired) throw new Error('no lock');
    await store.claim(
      r.lease,
      [
        {
          name: 'a',
          revision: 1,
          expectedNextRunAt: 1000,
          runs: [1000],
          nextRunAt: 2000,
          dueAt: 2000,
        },
      ],
      1000,
    );
    await store.remove('b', 0);
    expect(await admin.pttl(k.lock)).toBeGreaterThan(0);
    expect(await admin.pttl(k.fence)).toBeGreaterThan(0);
    expect(await admin.pttl(k.pending)).toBeGreaterThan(0);
    expect(await admin.pttl(k.entry('b'))).toBeGreaterThan(0); // the tombstone
    expect(await admin.pttl(k.entry('a'))).toBe(-1); // live entries are capped by maxEntries instead
    expect(await admin.scard(k.names)).toBe(1);
    await store.close();
    await store.close();
    await expect(store.list()).rejects.toMatchObject({ code: 'CELERIAC_ERR_CLOSED' });
    await dropNamespace(namespace);
  });

  it('reports an unreachable Redis as CELERIAC_ERR_BROKER_UNAVAILABLE', async () => {
    const store = new RedisScheduleStore({
      url: 'redis://127.0.0.1:1/0',
      redisOptions: { maxRetriesPerRequest: 0, retryStrategy: () => null },
    });
    await expect(store.nextDueAt()).rejects.toMatchObject({
      code: 'CELERIAC_ERR_BROKER_UNAVAILABLE',
    });
    await store.close();
  });

  it('watch survives a dropped subscriber connection: it resubscribes and says to read again', async () => {
    const namespace = uniqueName('beat');
    const name = uniqueName('beat-conn');
    const store = new RedisScheduleStore({
      url,
      namespace,
      redisOptions: { connectionName: name },
    });
    const writer = new RedisScheduleStore({ url, namespace });
    const seen: string[] = [];
    await store.watch((c) => seen.push(`${c.kind}:${c.name ?? '*'}`));
    const list = await admin.client('LIST');
    const id = /id=(\d+) [^\n]* name=(\S+)/g;
    const ids = [...String(list).matchAll(id)].filter((m) => m[2] === `${name}-watch`);
    expect(ids).toHaveLength(1);
    await admin.client('KILL', 'ID', ids[0]?.[1] ?? '');
    // After the reconnect: a nameless notice (changes may have been missed), then new writes.
    await expect.poll(() => seen, { timeout: 10_000, interval: 20 }).toContain('modified:*');
    await writer.upsert([w('after')], 'create', 0);
    await expect.poll(() => seen, { timeout: 5000, interval: 10 }).toContain('added:after');
    await Promise.all([store.close(), writer.close()]);
    await dropNamespace(namespace);
  });

  it('removeAll takes large schedules in batches', async () => {
    const namespace = uniqueName('beat');
    const store = new RedisScheduleStore({ url, namespace });
    const cleared: string[] = [];
    await store.watch((c) => {
      if (c.kind === 'cleared') cleared.push(c.origin ?? '');
    });
    const names = Array.from({ length: 2500 }, (_, i) => `e${i}`);
    await store.upsert(names.map(w), 'sync', 0);
    expect(await store.removeAll(1)).toBe(2500);
    expect(await store.list()).toEqual([]);
    expect(await admin.zcard(beatKeys(namespace).due)).toBe(0);
    expect(await admin.pttl(beatKeys(namespace).entry('e7'))).toBeGreaterThan(0); // a tombstone
    await expect.poll(() => cleared.length, { timeout: 5000, interval: 10 }).toBe(3);
    await store.close();
    await dropNamespace(namespace);
  });

  it('rejects a bad URL and namespace', () => {
    expect(() => new RedisScheduleStore({ url: 'amqp://x' })).toThrow(/redis:\/\//);
    expect(() => new RedisScheduleStore({ url, namespace: 'a{b}' })).toThrow(/namespace/);
  });
});
