/**
 * RedisScheduleStore through Redis Sentinel: the ScheduleStore contract on a store opened by
 * `createScheduleStore('sentinel://…')`, and the same store object carrying on after the
 * master is SIGKILLed and a replica promoted (its scripts loaded again on the new master).
 */
import { startRedisSentinel, uniqueName, type RedisSentinelHandle } from '@celeriac/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileEntry, definitionHash } from '../entry.js';
import { interval } from '../schedules/interval.js';
import { createScheduleStore } from '../store/create-schedule-store.js';
import type { EntryWrite } from '../store/schedule-store.js';
import { scheduleStoreContract } from '../store/schedule-store-contract.test-helper.js';
import { RedisScheduleStore } from './redis-schedule-store.js';

let group: RedisSentinelHandle;
beforeAll(async () => {
  group = await startRedisSentinel();
}, 30_000);
afterAll(async () => {
  await group?.stop();
});

scheduleStoreContract('RedisScheduleStore on sentinel://', async () => {
  const store = await createScheduleStore(group.url, { namespace: uniqueName('beat') });
  expect(store).toBeInstanceOf(RedisScheduleStore);
  // A throwaway group of servers: nothing to delete.
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

describe('RedisScheduleStore on sentinel://', () => {
  it('keeps its entries and its leader lock through a failover, without being reopened', async () => {
    const T0 = Date.now();
    const store = new RedisScheduleStore({ url: group.url, namespace: uniqueName('failover') });
    try {
      expect(await store.upsert([entry('a', T0)], 'sync', T0)).toEqual([
        { name: 'a', status: 'created' },
      ]);
      const led = await store.acquireLeadership('beat-a', 60_000, T0);
      expect(led.acquired).toBe(true);
      await group.waitForReplication();

      const old = await group.killMaster();
      await group.waitForFailover(old);
      // A command racing the switch can fail (a beat's loop logs it and ticks again); the same
      // store object answers from the promoted replica once its client has reconnected.
      await expect
        .poll(
          () =>
            store.get('a').then(
              (e) => e?.definition.name,
              () => 'not yet',
            ),
          {
            timeout: 20_000,
            interval: 100,
          },
        )
        .toBe('a');
      const other = await store.acquireLeadership('beat-b', 60_000, T0);
      expect(other).toMatchObject({ acquired: false, holder: 'beat-a' });
      if (!led.acquired) throw new Error('unreachable');
      expect(await store.renewLeadership(led.lease, 60_000, T0)).toBe(true);
      const [claimed] = await store.claim(
        led.lease,
        [
          {
            name: 'a',
            revision: 1,
            expectedNextRunAt: T0,
            runs: [T0],
            nextRunAt: T0 + 60_000,
            dueAt: T0 + 60_000,
          },
        ],
        T0,
      );
      expect(claimed).toMatchObject({ name: 'a', status: 'claimed' });
      expect(await store.upsert([entry('b', T0)], 'sync', T0)).toEqual([
        { name: 'b', status: 'created' },
      ]);
    } finally {
      await store.close();
    }
  }, 60_000);
});
