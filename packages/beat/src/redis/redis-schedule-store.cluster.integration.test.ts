/**
 * RedisScheduleStore on a Redis Cluster: the ScheduleStore contract on a store opened by
 * `createScheduleStore('redis+cluster://…')` (every key of a namespace shares the hash tag
 * `{<namespace>}`, so its scripts run in one slot), and the same store carrying on through a
 * failover of the master serving its slot.
 */
import { startRedisCluster, uniqueName, type RedisClusterHandle } from '@celeriac/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileEntry, definitionHash } from '../entry.js';
import { interval } from '../schedules/interval.js';
import { createScheduleStore } from '../store/create-schedule-store.js';
import type { EntryWrite } from '../store/schedule-store.js';
import { scheduleStoreContract } from '../store/schedule-store-contract.test-helper.js';
import { RedisScheduleStore } from './redis-schedule-store.js';

let cluster: RedisClusterHandle;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

scheduleStoreContract('RedisScheduleStore on redis+cluster://', async () => {
  const store = await createScheduleStore(cluster.url, { namespace: uniqueName('beat') });
  expect(store).toBeInstanceOf(RedisScheduleStore);
  return { store, cleanup: () => store.close() };
});

function entry(name: string, next: number): EntryWrite {
  const { definition } = compileEntry(
    { name, task: 't.task', schedule: interval(60) },
    { timezone: 'UTC' },
  );
  return {
    definition,
    hash: definitionHash(definition),
    enabled: true,
    source: 'api',
    nextRunAt: next,
    dueAt: next,
  };
}

describe('RedisScheduleStore on redis+cluster://', () => {
  it('keeps its entries and its leader lock through a failover of every master', async () => {
    const T0 = Date.now();
    const store = new RedisScheduleStore({ url: cluster.url, namespace: uniqueName('failover') });
    try {
      expect(await store.upsert([entry('a', T0)], 'sync', T0)).toEqual([
        { name: 'a', status: 'created' },
      ]);
      const led = await store.acquireLeadership('beat-a', 60_000, T0);
      expect(led.acquired).toBe(true);
      if (!led.acquired) throw new Error('unreachable');
      // Whichever master serves the namespace's slot, one of these moves it to its replica.
      for (let i = 0; i < 3; i++) await cluster.failover(i);
      await expect
        .poll(
          () =>
            store.get('a').then(
              (e) => e?.definition.name,
              () => 'not yet',
            ),
          { timeout: 20_000, interval: 100 },
        )
        .toBe('a');
      expect(await store.acquireLeadership('beat-b', 60_000, T0)).toMatchObject({
        acquired: false,
        holder: 'beat-a',
      });
      expect(await store.renewLeadership(led.lease, 60_000, T0)).toBe(true);
    } finally {
      await store.close();
    }
  }, 60_000);
});
