import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes, isCeleriacError } from '@celeriac/core';
import { defaultStoreUrl } from '../embedded.js';
import { compileEntry, definitionHash } from '../entry.js';
import { interval } from '../schedules/interval.js';
import { createScheduleStore } from '../store/create-schedule-store.js';
import { scheduleStoreContract } from '../store/schedule-store-contract.test-helper.js';
import { TOMBSTONE_TTL_MS, type EntryWrite } from '../store/schedule-store.js';
import { openSqlite } from '@celeriac/broker/sqlite/internal';
import { SQL } from './schema.js';
import { SqliteChangeWatch, type ChangeStatements } from './sqlite-change-watch.js';
import { SqliteScheduleStore } from './sqlite-schedule-store.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-beat-'));
const file = join(dir, 'beat.db');
const url = `sqlite://${file}`;
let namespaces = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// One file, a namespace per test: the rows of one test never meet another's.
scheduleStoreContract('SqliteScheduleStore', () => {
  const namespace = `contract-${++namespaces}`;
  const store = new SqliteScheduleStore({ url, namespace });
  const peers: SqliteScheduleStore[] = [];
  return Promise.resolve({
    store,
    peer: () => {
      const peer = new SqliteScheduleStore({ url, namespace, origin: 'peer' });
      peers.push(peer);
      return Promise.resolve(peer);
    },
    cleanup: async () => {
      await Promise.all([store, ...peers].map((s) => s.close()));
    },
  });
});

function write(name: string, next: number | null): EntryWrite {
  const { definition } = compileEntry(
    { name, task: 't', schedule: interval(60) },
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

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('SqliteScheduleStore', () => {
  it('two connections to one file: one leader, and a run claimed once', async () => {
    const namespace = `two-${++namespaces}`;
    const a = new SqliteScheduleStore({ url, namespace });
    const b = new SqliteScheduleStore({ url, namespace });
    try {
      const now = Date.now();
      await a.upsert([write('e', now)], 'sync', now);
      expect(await b.upsert([write('e', now)], 'sync', now)).toEqual([
        { name: 'e', status: 'unchanged' },
      ]);
      const la = await a.acquireLeadership('beat-a', 60_000, now);
      expect(await b.acquireLeadership('beat-b', 60_000, now)).toMatchObject({
        acquired: false,
        holder: 'beat-a',
      });
      if (!la.acquired) throw new Error('beat-a should lead');
      expect(await b.leader(now)).toMatchObject({ owner: 'beat-a', fence: la.lease.fence });
      // A split brain: b holds a's lease (as a stale leader would) and both claim the same read.
      const claim = {
        name: 'e',
        revision: 1,
        expectedNextRunAt: now,
        runs: [now],
        nextRunAt: now + 60_000,
        dueAt: now + 60_000,
      };
      const [ra, rb] = await Promise.all([
        a.claim(la.lease, [claim], now),
        b.claim(la.lease, [claim], now),
      ]);
      expect([ra, rb].map((r) => r[0]?.status).sort()).toEqual(['claimed', 'stale']);
      expect(await b.pending(now + 1, 10)).toEqual([
        { name: 'e', scheduledAt: now, claimedAt: now },
      ]);
      expect((await b.get('e'))?.state.totalRunCount).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('caps entries and pending runs, and forgets tombstones after a day', async () => {
    const namespace = `caps-${++namespaces}`;
    const store = new SqliteScheduleStore({ url, namespace, maxEntries: 2, maxPending: 3 });
    try {
      const t0 = 1_000_000;
      expect(
        (await store.upsert([write('a', t0), write('b', t0), write('c', t0)], 'sync', t0)).map(
          (r) => r.status,
        ),
      ).toEqual(['created', 'created', 'full']);
      const r = await store.acquireLeadership('me', 3_600_000, t0);
      if (!r.acquired) throw new Error('no lock');
      const res = await store.claim(
        r.lease,
        [
          {
            name: 'a',
            revision: 1,
            expectedNextRunAt: t0,
            runs: [t0, t0 + 1, t0 + 2, t0 + 3, t0 + 4],
            nextRunAt: t0 + 5,
            dueAt: t0 + 5,
          },
        ],
        t0 + 10,
      );
      expect(res).toEqual([
        { name: 'a', status: 'claimed', runs: [t0, t0 + 1, t0 + 2, t0 + 3, t0 + 4] },
      ]);
      expect((await store.pending(t0 + 100, 100)).length).toBe(3);
      await store.remove('b', t0);
      const tombstones = (): number => {
        const db = new Database(file, { readonly: true });
        try {
          return db
            .prepare(
              'SELECT count(*) FROM celeriac_beat_entries WHERE namespace = ? AND removed_at IS NOT NULL',
            )
            .pluck()
            .get(namespace) as number;
        } finally {
          db.close();
        }
      };
      expect(tombstones()).toBe(1);
      await store.upsert([write('c', t0)], 'sync', t0 + TOMBSTONE_TTL_MS + 1);
      expect(tombstones()).toBe(0);
      expect((await store.list()).map((e) => e.definition.name)).toEqual(['a', 'c']);
    } finally {
      await store.close();
    }
    await expect(store.list()).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
    await store.close();
  });

  it('opens a file made before recent_runs existed: the column is added, entries kept', async () => {
    const old = `sqlite://${join(dir, 'old.db')}`;
    const first = new SqliteScheduleStore({ url: old, namespace: 'old' });
    await first.upsert([write('kept', 1000)], 'sync', 0);
    await first.close();
    const db = new Database(join(dir, 'old.db'));
    db.exec('ALTER TABLE celeriac_beat_entries DROP COLUMN recent_runs');
    db.close();
    const store = new SqliteScheduleStore({ url: old, namespace: 'old' });
    try {
      expect((await store.get('kept'))?.state.recentRuns).toEqual([]);
      const r = await store.acquireLeadership('b', 60_000, 1000);
      if (!r.acquired) throw new Error('expected the lock');
      const claim = { name: 'kept', revision: 1, expectedNextRunAt: 1000, runs: [1000] };
      expect(
        await store.claim(r.lease, [{ ...claim, nextRunAt: 61_000, dueAt: 61_000 }], 1000),
      ).toEqual([{ name: 'kept', status: 'claimed', runs: [1000] }]);
      expect((await store.get('kept'))?.state.recentRuns).toEqual([1000]);
    } finally {
      await store.close();
    }
  });

  it('is what createScheduleStore opens for sqlite://', async () => {
    const store = await createScheduleStore(url, { namespace: `factory-${++namespaces}` });
    try {
      expect(store).toBeInstanceOf(SqliteScheduleStore);
      expect((store as SqliteScheduleStore).file).toBe(file);
    } finally {
      await store.close();
    }
  });

  it('is the default store of an app whose broker is a SQLite file (the same file)', () => {
    expect(defaultStoreUrl({ options: { brokerUrl: 'sqlite://./celeriac.db' } })).toBe(
      'sqlite://./celeriac.db',
    );
    expect(defaultStoreUrl({ options: { brokerUrl: 'redis://h:6379/0' } })).toBe(
      'redis://h:6379/0',
    );
    expect(defaultStoreUrl({ options: { brokerUrl: 'amqp://h' } })).toBe('memory://');
  });

  it('rejects unknown and wrong options, naming the option', () => {
    const unknown = caught(() => new SqliteScheduleStore({ url, namspace: 'x' } as never));
    expect(isCeleriacError(unknown, ErrorCodes.INVALID_OPTION)).toBe(true);
    expect((unknown as Error).message).toMatch(/"namspace" is unknown; did you mean "namespace"/);
    for (const bad of [
      { url: 'redis://x' },
      { namespace: 'a b' },
      { maxEntries: 0 },
      { maxPending: 1.5 },
      { busyTimeoutMs: -1 },
    ]) {
      const err = caught(() => new SqliteScheduleStore({ url, ...bad }));
      expect(isCeleriacError(err, ErrorCodes.INVALID_OPTION), JSON.stringify(bad)).toBe(true);
      expect((err as Error).message).toContain(Object.keys(bad)[0]);
    }
  });
});

describe('SqliteChangeWatch', () => {
  it('a commit landing between its read of the last sequence and of the rows is told once', async () => {
    const namespace = `race-${++namespaces}`;
    const writer = new SqliteScheduleStore({ url, namespace, origin: 'w' }); // makes the tables
    const { db, location } = openSqlite(url);
    const last = db.prepare(SQL.lastChange).pluck();
    // Another process commits right after the watch read the last sequence number.
    let between: (() => void) | undefined;
    const sql: ChangeStatements = {
      addChange: db.prepare(SQL.addChange),
      trimChanges: db.prepare(SQL.trimChanges),
      lastChange: {
        get: () => {
          const seq = last.get();
          const f = between;
          between = undefined;
          f?.();
          return seq;
        },
      } as unknown as ChangeStatements['lastChange'],
      changesSince: db.prepare(SQL.changesSince).raw(),
    };
    const watch = new SqliteChangeWatch(db, location, namespace, sql, 20);
    try {
      const seen: string[] = [];
      watch.watch((c) => seen.push(`${c.kind}:${c.name ?? '*'}`));
      between = () => void writer.upsert([write('b', 0)], 'create', 0);
      await writer.upsert([write('a', 0)], 'create', 0);
      await expect.poll(() => seen, { timeout: 5000, interval: 10 }).toContain('added:b');
      await writer.upsert([write('c', 0)], 'create', 0);
      await expect.poll(() => seen, { timeout: 5000, interval: 10 }).toContain('added:c');
      expect(seen).toEqual(['added:a', 'added:b', 'added:c']);
    } finally {
      watch.close();
      db.close();
      await writer.close();
    }
  });
});
