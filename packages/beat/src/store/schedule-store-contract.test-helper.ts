import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileEntry, definitionHash, type BeatEntry, type EntrySource } from '../entry.js';
import { interval } from '../schedules/interval.js';
import type { EntryWrite, Lease, ScheduleStore } from './schedule-store.js';

/** A store under test; `cleanup` deletes what the test wrote. */
export interface StoreFixture {
  store: ScheduleStore;
  cleanup(): Promise<void>;
}

const T0 = Date.parse('2030-01-01T00:00:00Z');

function write(
  entry: Partial<BeatEntry> & { name: string },
  next: number | null,
  source: EntrySource = 'api',
  enabled = true,
): EntryWrite {
  const { definition } = compileEntry(
    { task: 't.task', schedule: interval(60), ...entry },
    { timezone: 'UTC' },
  );
  return {
    definition,
    hash: definitionHash(definition),
    enabled,
    source,
    nextRunAt: next,
    dueAt: next,
  };
}

/** Leads from T0 for an hour (of the store's clock: the caller's for memory, the server's for Redis). */
async function lead(store: ScheduleStore, owner = 'beat-a'): Promise<Lease> {
  const r = await store.acquireLeadership(owner, 3_600_000, T0);
  if (!r.acquired) throw new Error('expected to acquire the lock');
  return r.lease;
}

/**
 * The `ScheduleStore` contract, written once and run against every implementation
 * (`MemoryScheduleStore`, `RedisScheduleStore`), as the broker conformance suites are.
 */
export function scheduleStoreContract(name: string, make: () => Promise<StoreFixture>): void {
  describe(`${name}: the ScheduleStore contract`, () => {
    let f: StoreFixture;
    let store: ScheduleStore;
    beforeEach(async () => {
      f = await make();
      store = f.store;
    });
    afterEach(async () => {
      await f.cleanup();
    });

    it('upsert: create, sync (unchanged keeps state), update, create-only, replace', async () => {
      expect(await store.upsert([write({ name: 'a' }, T0, 'config')], 'sync', T0)).toEqual([
        { name: 'a', status: 'created' },
      ]);
      const lease = await lead(store);
      await store.claim(
        lease,
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
      expect(await store.upsert([write({ name: 'a' }, T0 + 999, 'config')], 'sync', T0)).toEqual([
        { name: 'a', status: 'unchanged' },
      ]);
      const kept = await store.get('a');
      expect(kept?.state).toMatchObject({
        nextRunAt: T0 + 60_000,
        lastRunAt: T0,
        totalRunCount: 1,
        source: 'config',
        revision: 1,
      });
      expect(
        await store.upsert([write({ name: 'a', args: [1] }, T0 + 120_000, 'config')], 'sync', T0),
      ).toEqual([{ name: 'a', status: 'updated' }]);
      expect((await store.get('a'))?.state).toMatchObject({
        nextRunAt: T0 + 120_000,
        totalRunCount: 1,
        revision: 2,
      });
      expect((await store.get('a'))?.definition.args).toEqual([1]);
      expect(await store.upsert([write({ name: 'a' }, T0)], 'create', T0)).toEqual([
        { name: 'a', status: 'exists' },
      ]);
      expect(
        await store.upsert([write({ name: 'a', task: 'other' }, T0, 'api', false)], 'replace', T0),
      ).toEqual([{ name: 'a', status: 'updated' }]);
      expect((await store.get('a'))?.state).toMatchObject({
        enabled: false,
        source: 'api',
        revision: 3,
      });
      expect(await store.get('missing')).toBeUndefined();
      expect((await store.list()).map((e) => e.definition.name)).toEqual(['a']);
    });

    it('due and nextDueAt follow due times and skip disabled entries', async () => {
      await store.upsert(
        [
          write({ name: 'late' }, T0 + 2000),
          write({ name: 'early' }, T0 + 1000),
          write({ name: 'off' }, T0, 'api', false),
          write({ name: 'never' }, null),
        ],
        'sync',
        T0,
      );
      expect(await store.nextDueAt()).toBe(T0 + 1000);
      expect((await store.due(T0 + 1500, 10)).map((e) => e.definition.name)).toEqual(['early']);
      expect((await store.due(T0 + 5000, 10)).map((e) => e.definition.name)).toEqual([
        'early',
        'late',
      ]);
      expect((await store.due(T0 + 5000, 1)).map((e) => e.definition.name)).toEqual(['early']);
      expect(
        await store.setEnabled('off', true, { nextRunAt: T0 + 500, dueAt: T0 + 500 }, T0),
      ).toBe(true);
      expect(await store.nextDueAt()).toBe(T0 + 500);
      expect(await store.setEnabled('early', false, undefined, T0)).toBe(true);
      expect((await store.due(T0 + 5000, 10)).map((e) => e.definition.name)).toEqual([
        'off',
        'late',
      ]);
      expect(await store.setEnabled('nope', true, undefined, T0)).toBe(false);
    });

    it('the leader lock: one holder, renewal, release, expiry, increasing fences', async () => {
      const now = Date.now();
      const a = await store.acquireLeadership('beat-a', 300, now);
      expect(a.acquired).toBe(true);
      const b = await store.acquireLeadership('beat-b', 300, now);
      expect(b).toMatchObject({ acquired: false, holder: 'beat-a' });
      if (b.acquired || !a.acquired) throw new Error('unreachable');
      expect(b.ttlMs).toBeGreaterThan(0);
      expect(b.ttlMs).toBeLessThanOrEqual(300);
      expect(await store.acquireLeadership('beat-a', 300, now)).toMatchObject({
        acquired: true,
        lease: a.lease,
      });
      expect(await store.renewLeadership(a.lease, 300, now)).toBe(true);
      expect(await store.leader(now)).toMatchObject({ owner: 'beat-a', fence: a.lease.fence });
      await sleep(400);
      expect(await store.renewLeadership(a.lease, 300, Date.now())).toBe(false);
      const b2 = await store.acquireLeadership('beat-b', 300, Date.now());
      if (!b2.acquired) throw new Error('expected beat-b to take the expired lock');
      expect(b2.lease.fence).toBeGreaterThan(a.lease.fence);
      await store.releaseLeadership(a.lease); // not the holder: no effect
      expect(await store.leader(Date.now())).toMatchObject({ owner: 'beat-b' });
      await store.releaseLeadership(b2.lease);
      expect(await store.leader(Date.now())).toBeUndefined();
    });

    it('claim: fenced without the lock, stale when the entry moved, once per run', async () => {
      await store.upsert([write({ name: 'e' }, T0)], 'sync', T0);
      const lease = await lead(store);
      const claim = {
        name: 'e',
        revision: 1,
        expectedNextRunAt: T0,
        runs: [T0],
        nextRunAt: T0 + 60_000,
        dueAt: T0 + 60_000,
      };
      expect(
        await store.claim({ ...lease, token: `${lease.fence + 1}:intruder` }, [claim], T0),
      ).toEqual([{ name: 'e', status: 'fenced' }]);
      expect(await store.claim(lease, [{ ...claim, revision: 7 }], T0)).toEqual([
        { name: 'e', status: 'stale' },
      ]);
      expect(await store.claim(lease, [{ ...claim, expectedNextRunAt: T0 - 1 }], T0)).toEqual([
        { name: 'e', status: 'stale' },
      ]);
      expect(await store.claim(lease, [claim], T0 + 5)).toEqual([
        { name: 'e', status: 'claimed', runs: [T0] },
      ]);
      // The same read again (a second leader in a split brain) finds the entry moved on.
      expect(await store.claim(lease, [claim], T0 + 6)).toEqual([{ name: 'e', status: 'stale' }]);
      expect((await store.get('e'))?.state).toMatchObject({
        nextRunAt: T0 + 60_000,
        lastRunAt: T0,
        lastDispatchedAt: T0 + 5,
        totalRunCount: 1,
      });
      // Runs at or below the high-water mark are never claimed again, whatever the entry says.
      const again = {
        ...claim,
        expectedNextRunAt: T0 + 60_000,
        runs: [T0 - 60_000, T0, T0 + 60_000],
        nextRunAt: T0 + 120_000,
        dueAt: T0 + 120_000,
      };
      expect(await store.claim(lease, [again], T0 + 60_000)).toEqual([
        { name: 'e', status: 'claimed', runs: [T0 + 60_000] },
      ]);
      expect(await store.nextDueAt()).toBe(T0 + 120_000);
      // A claim that ends the schedule takes the entry out of the due index.
      const last = {
        ...claim,
        expectedNextRunAt: T0 + 120_000,
        runs: [],
        nextRunAt: null,
        dueAt: null,
      };
      expect(await store.claim(lease, [last], T0 + 120_000)).toEqual([
        { name: 'e', status: 'claimed', runs: [] },
      ]);
      expect(await store.nextDueAt()).toBeUndefined();
      expect((await store.get('e'))?.state.nextRunAt).toBeNull();
    });

    it('claimed runs stay pending until settled', async () => {
      await store.upsert([write({ name: 'p' }, T0), write({ name: 'q' }, T0)], 'sync', T0);
      const lease = await lead(store);
      const base = {
        revision: 1,
        expectedNextRunAt: T0,
        nextRunAt: T0 + 60_000,
        dueAt: T0 + 60_000,
      };
      await store.claim(lease, [{ ...base, name: 'p', runs: [T0] }], T0 + 10);
      await store.claim(lease, [{ ...base, name: 'q', runs: [T0] }], T0 + 20);
      expect(await store.pending(T0 + 15, 10)).toEqual([
        { name: 'p', scheduledAt: T0, claimedAt: T0 + 10 },
      ]);
      expect(await store.pending(T0 + 100, 10)).toHaveLength(2);
      await store.settle([{ name: 'p', scheduledAt: T0 }]);
      expect(await store.pending(T0 + 100, 10)).toEqual([
        { name: 'q', scheduledAt: T0, claimedAt: T0 + 20 },
      ]);
    });

    it('recentRuns: the newest 16 claimed runs, ascending; kept on update, cleared on remove', async () => {
      await store.upsert([write({ name: 'n' }, T0)], 'sync', T0);
      expect((await store.get('n'))?.state.recentRuns).toEqual([]);
      const lease = await lead(store);
      const min = 60_000;
      // One claim of three runs (a catch-up), then one run per claim, 20 runs in all.
      let next = T0;
      const claimRuns = async (runs: number[]): Promise<void> => {
        const stored = await store.get('n');
        const after = (runs.at(-1) ?? next) + min;
        const r = await store.claim(
          lease,
          [
            {
              name: 'n',
              revision: stored?.state.revision ?? 0,
              expectedNextRunAt: next,
              runs,
              nextRunAt: after,
              dueAt: after,
            },
          ],
          T0,
        );
        expect(r).toEqual([{ name: 'n', status: 'claimed', runs }]);
        next = after;
      };
      await claimRuns([T0, T0 + min, T0 + 2 * min]);
      expect((await store.get('n'))?.state.recentRuns).toEqual([T0, T0 + min, T0 + 2 * min]);
      for (let i = 3; i < 20; i++) await claimRuns([T0 + i * min]);
      const want = Array.from({ length: 16 }, (_, i) => T0 + (i + 4) * min);
      expect((await store.get('n'))?.state.recentRuns).toEqual(want);
      expect((await store.list())[0]?.state.recentRuns).toEqual(want);
      expect((await store.due(next, 10))[0]?.state.recentRuns).toEqual(want);
      // A claim that skips every run (maxInstances, misfire) leaves them as they are.
      await claimRuns([]);
      expect((await store.get('n'))?.state.recentRuns).toEqual(want);
      // A new definition keeps them (the runs it counts were enqueued all the same).
      expect(await store.upsert([write({ name: 'n', args: [2] }, T0, 'api')], 'sync', T0)).toEqual([
        { name: 'n', status: 'updated' },
      ]);
      expect((await store.get('n'))?.state.recentRuns).toEqual(want);
      expect(await store.setEnabled('n', false, undefined, T0)).toBe(true);
      expect((await store.get('n'))?.state.recentRuns).toEqual(want);
      expect(await store.remove('n', T0)).toBe(true);
      await store.upsert([write({ name: 'n' }, T0)], 'create', T0);
      expect((await store.get('n'))?.state.recentRuns).toEqual([]);
    });

    it('remove, then re-add: the high-water mark survives, so no run repeats', async () => {
      await store.upsert([write({ name: 'r' }, T0)], 'sync', T0);
      const lease = await lead(store);
      await store.claim(
        lease,
        [
          {
            name: 'r',
            revision: 1,
            expectedNextRunAt: T0,
            runs: [T0],
            nextRunAt: T0 + 60_000,
            dueAt: T0 + 60_000,
          },
        ],
        T0,
      );
      expect(await store.remove('r', T0)).toBe(true);
      expect(await store.remove('r', T0)).toBe(false);
      expect(await store.get('r')).toBeUndefined();
      expect(await store.list()).toEqual([]);
      expect(await store.nextDueAt()).toBeUndefined();
      expect(await store.upsert([write({ name: 'r' }, T0)], 'create', T0)).toEqual([
        { name: 'r', status: 'created' },
      ]);
      const re = await store.get('r');
      expect(re?.state).toMatchObject({ totalRunCount: 0, nextRunAt: T0 });
      const res = await store.claim(
        lease,
        [
          {
            name: 'r',
            revision: re?.state.revision ?? 0,
            expectedNextRunAt: T0,
            runs: [T0],
            nextRunAt: T0 + 60_000,
            dueAt: T0 + 60_000,
          },
        ],
        T0,
      );
      expect(res).toEqual([{ name: 'r', status: 'claimed', runs: [] }]);
    });
  });
}
