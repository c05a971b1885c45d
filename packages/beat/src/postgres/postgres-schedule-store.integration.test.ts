import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ErrorCodes } from '@celeriac/core';
import {
  expectInvalidOption,
  freePort,
  rejectionOf,
  startPostgresServer,
  thrownBy,
  uniqueName,
  type PostgresServerHandle,
} from '@celeriac/testing';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileEntry, definitionHash } from '../entry.js';
import { interval } from '../schedules/interval.js';
import { createScheduleStore } from '../store/create-schedule-store.js';
import { scheduleStoreContract } from '../store/schedule-store-contract.test-helper.js';
import { TOMBSTONE_TTL_MS, type EntryWrite, type Lease } from '../store/schedule-store.js';
import { PostgresScheduleStore } from './postgres-schedule-store.js';

let server: PostgresServerHandle;
let sql: Client;
beforeAll(async () => {
  server = await startPostgresServer();
  sql = new Client({ connectionString: server.url });
  await sql.connect();
});
afterAll(async () => {
  await sql.end();
  await server.stop();
});

// One database, a namespace per test: the rows of one test never meet another's.
scheduleStoreContract('PostgresScheduleStore', () => {
  const namespace = uniqueName('contract');
  const store = new PostgresScheduleStore({ url: server.url, namespace });
  const peers: PostgresScheduleStore[] = [];
  return Promise.resolve({
    store,
    // Another connection pool on the same tables: its NOTIFY reaches the store's LISTEN.
    peer: () => {
      const peer = new PostgresScheduleStore({ url: server.url, namespace, origin: 'peer' });
      peers.push(peer);
      return Promise.resolve(peer);
    },
    cleanup: async () => {
      await Promise.all([store, ...peers].map((s) => s.close()));
    },
  });
});

function write(name: string, next: number | null, args: unknown[] = []): EntryWrite {
  const { definition } = compileEntry(
    { name, task: 't', schedule: interval(60), args },
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

async function lead(store: PostgresScheduleStore, owner = 'me'): Promise<Lease> {
  const r = await store.acquireLeadership(owner, 3_600_000, 0);
  if (!r.acquired) throw new Error('expected the lock');
  return r.lease;
}

const T0 = 1_000_000;
const claimOf = (name: string, revision: number, at: number, runs: number[], next: number) => ({
  name,
  revision,
  expectedNextRunAt: at,
  runs,
  nextRunAt: next,
  dueAt: next,
});

async function withStore<T>(
  options: Partial<ConstructorParameters<typeof PostgresScheduleStore>[0]>,
  fn: (store: PostgresScheduleStore) => Promise<T>,
): Promise<T> {
  const store = new PostgresScheduleStore({
    url: server.url,
    namespace: uniqueName('pg'),
    ...options,
  });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

describe('PostgresScheduleStore', () => {
  it('recentRuns: the last 16 claimed runs, ascending; kept on update, cleared on remove', () =>
    withStore({}, async (store) => {
      await store.upsert([write('r', T0)], 'sync', T0);
      const lease = await lead(store);
      const runs = Array.from({ length: 20 }, (_, i) => T0 + i * 60_000);
      expect(await store.claim(lease, [claimOf('r', 1, T0, runs, T0 + 20 * 60_000)], T0)).toEqual([
        { name: 'r', status: 'claimed', runs },
      ]);
      expect((await store.get('r'))?.state.recentRuns).toEqual(runs.slice(-16));
      await store.claim(
        lease,
        [claimOf('r', 1, T0 + 20 * 60_000, [T0 + 20 * 60_000], T0 + 21 * 60_000)],
        T0,
      );
      expect((await store.get('r'))?.state.recentRuns).toEqual(
        [...runs, T0 + 20 * 60_000].slice(-16),
      );
      await store.upsert([write('r', T0 + 21 * 60_000, [1])], 'sync', T0);
      expect((await store.get('r'))?.state).toMatchObject({ revision: 2, totalRunCount: 21 });
      expect((await store.get('r'))?.state.recentRuns).toHaveLength(16);
      await store.remove('r', T0);
      await store.upsert([write('r', T0)], 'sync', T0);
      expect((await store.get('r'))?.state).toMatchObject({ recentRuns: [], totalRunCount: 0 });
    }));

  it('removeAll: removes every entry of its namespace only, keeping the high-water marks', () =>
    withStore({}, async (store) =>
      withStore({}, async (other) => {
        await store.upsert([write('a', T0), write('b', T0)], 'sync', T0);
        await other.upsert([write('a', T0)], 'sync', T0);
        const lease = await lead(store);
        await store.claim(lease, [claimOf('a', 1, T0, [T0], T0 + 60_000)], T0);
        expect(await store.removeAll(T0)).toBe(2);
        expect(await store.removeAll(T0)).toBe(0);
        expect(await store.list()).toEqual([]);
        expect((await other.list()).map((e) => e.definition.name)).toEqual(['a']);
        await store.upsert([write('a', T0)], 'sync', T0);
        const re = (await store.get('a'))?.state.revision ?? 0;
        expect(await store.claim(lease, [claimOf('a', re, T0, [T0], T0 + 60_000)], T0)).toEqual([
          { name: 'a', status: 'claimed', runs: [] },
        ]);
      }),
    ));

  it('two stores (two pools) racing: one lock holder of five, one claim of two', async () => {
    const namespace = uniqueName('race');
    const stores = Array.from(
      { length: 5 },
      () => new PostgresScheduleStore({ url: server.url, namespace }),
    );
    try {
      const [a, b] = stores as [PostgresScheduleStore, PostgresScheduleStore];
      await a.upsert([write('e', T0)], 'sync', T0);
      const results = await Promise.all(
        stores.map((s, i) => s.acquireLeadership(`beat-${i}`, 60_000, 0)),
      );
      const won = results.filter((r) => r.acquired);
      expect(won).toHaveLength(1);
      const lease = won[0]?.acquired ? won[0].lease : undefined;
      if (!lease) throw new Error('unreachable');
      for (const r of results) if (!r.acquired) expect(r.holder).toBe(lease.owner);
      // A split brain: both use the same read and the same (valid) lease.
      const claim = claimOf('e', 1, T0, [T0], T0 + 60_000);
      const [ra, rb] = await Promise.all([
        a.claim(lease, [claim], T0),
        b.claim(lease, [claim], T0),
      ]);
      expect([ra[0]?.status, rb[0]?.status].sort()).toEqual(['claimed', 'stale']);
      expect(await b.pending(T0 + 1, 10)).toEqual([{ name: 'e', scheduledAt: T0, claimedAt: T0 }]);
      expect((await b.get('e'))?.state.totalRunCount).toBe(1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('a batch naming an entry twice sees the first claim; sync of a name twice keeps the last', () =>
    withStore({}, async (store) => {
      expect(
        (await store.upsert([write('d', T0), write('d', T0, [2])], 'sync', T0)).map(
          (r) => r.status,
        ),
      ).toEqual(['created', 'updated']);
      expect((await store.get('d'))?.definition.args).toEqual([2]);
      const rev = (await store.get('d'))?.state.revision ?? 0;
      const lease = await lead(store);
      expect(
        await store.claim(
          lease,
          [
            claimOf('d', rev, T0, [T0], T0 + 60_000),
            claimOf('d', rev, T0 + 60_000, [T0, T0 + 60_000], T0 + 120_000),
          ],
          T0,
        ),
      ).toEqual([
        { name: 'd', status: 'claimed', runs: [T0] },
        { name: 'd', status: 'claimed', runs: [T0 + 60_000] },
      ]);
      expect((await store.get('d'))?.state).toMatchObject({
        nextRunAt: T0 + 120_000,
        lastRunAt: T0 + 60_000,
        totalRunCount: 2,
        recentRuns: [T0, T0 + 60_000],
      });
    }));

  it('caps entries and pending runs, and forgets tombstones after a day', () =>
    withStore({ maxEntries: 2, maxPending: 3 }, async (store) => {
      expect(
        (await store.upsert([write('a', T0), write('b', T0), write('c', T0)], 'sync', T0)).map(
          (r) => r.status,
        ),
      ).toEqual(['created', 'created', 'full']);
      const lease = await lead(store);
      const runs = [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4];
      await store.claim(lease, [claimOf('a', 1, T0, runs, T0 + 5)], T0 + 10);
      expect(await store.pending(T0 + 100, 100)).toHaveLength(3);
      await store.remove('b', T0);
      const tombstones = async (): Promise<number> =>
        Number(
          (
            await sql.query<{ n: string }>(
              `SELECT count(*) AS n FROM ${store.names.entries} WHERE namespace = $1 AND removed_at IS NOT NULL`,
              [store.namespace],
            )
          ).rows[0]?.n,
        );
      expect(await tombstones()).toBe(1);
      await store.upsert([write('c', T0)], 'sync', T0 + TOMBSTONE_TTL_MS + 1);
      expect(await tombstones()).toBe(0);
      expect((await store.list()).map((e) => e.definition.name)).toEqual(['a', 'c']);
      await store.close();
      await expect(store.list()).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
    }));

  it('creates its tables under the schema and prefix it is given, once, even when several stores start together', async () => {
    const schema = `beat_${uniqueName('s').slice(2)}`;
    const stores = Array.from(
      { length: 3 },
      () => new PostgresScheduleStore({ url: server.url, schema, tablePrefix: 'sched_' }),
    );
    try {
      await Promise.all(stores.map((s) => s.upsert([write('x', T0)], 'sync', T0)));
      const tables = await sql.query<{ t: string }>(
        `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
        [schema],
      );
      expect(tables.rows.map((r) => r.t)).toEqual(['sched_entries', 'sched_lock', 'sched_pending']);
      expect(stores[0]?.names.entries).toBe(`"${schema}"."sched_entries"`);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await sql.query(`DROP SCHEMA "${schema}" CASCADE`);
    }
  });

  it('the longest schema and prefix the options allow: writes succeed and watchers hear them', async () => {
    const schema = `b${uniqueName('s').replace(/[^a-z0-9_]/g, '_')}`.padEnd(30, 'x').slice(0, 30);
    const tablePrefix = 'p'.repeat(30);
    const namespace = uniqueName('long');
    const store = new PostgresScheduleStore({ url: server.url, schema, tablePrefix, namespace });
    const peer = new PostgresScheduleStore({ url: server.url, schema, tablePrefix, namespace });
    try {
      const seen: string[] = [];
      await store.watch((c) => seen.push(`${c.kind}:${c.name ?? '*'}`));
      expect(await peer.upsert([write('x', T0)], 'sync', T0)).toEqual([
        { name: 'x', status: 'created' },
      ]);
      await expect.poll(() => seen, { timeout: 5000, interval: 10 }).toEqual(['added:x']);
    } finally {
      await Promise.all([store.close(), peer.close()]);
      await sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it('is what createScheduleStore opens for postgresql:// and postgres://', async () => {
    for (const url of [server.url, server.url.replace(/^postgresql:/, 'postgres:')]) {
      const store = await createScheduleStore(url, { namespace: uniqueName('factory') });
      try {
        expect(store).toBeInstanceOf(PostgresScheduleStore);
        expect(await store.list()).toEqual([]);
      } finally {
        await store.close();
      }
    }
  });

  it('rejects unknown and wrong options, naming the option', () => {
    expectInvalidOption(
      thrownBy(() => new PostgresScheduleStore({ url: server.url, namspace: 'x' } as never)),
      'PostgresScheduleStore',
      'namspace',
      'namespace',
    );
    for (const bad of [
      { url: 'redis://localhost' },
      { url: 'postgresql://[oops' },
      { namespace: 'a b' },
      { schema: 'Bad-Schema' },
      { tablePrefix: '1x' },
      { maxEntries: 0 },
      { poolSize: 0 },
      { connectTimeoutMs: -1 },
    ]) {
      const err = thrownBy(() => new PostgresScheduleStore({ url: server.url, ...bad }));
      expect(err.code, JSON.stringify(bad)).toBe(ErrorCodes.INVALID_OPTION);
      expect(err.message).toContain(Object.keys(bad)[0]);
    }
  });

  it('an unreachable server or a missing database: a CeleriacError that names the URL and says what to check', async () => {
    const port = await freePort();
    const down = new PostgresScheduleStore({
      url: `postgresql://beat:s3cret@127.0.0.1:${port}/app`,
      connectTimeoutMs: 2000,
    });
    try {
      const err = await rejectionOf(() => down.list());
      expect(err.code).toBe(ErrorCodes.BROKER_UNAVAILABLE);
      expect(err.message).toContain(`postgresql://beat:***@127.0.0.1:${port}/app`);
      expect(err.message).not.toContain('s3cret');
      expect(err.message).toMatch(
        /list failed: .*check the host and port, and that PostgreSQL runs/,
      );
      const watchErr = await rejectionOf(() => down.watch(() => undefined));
      expect(watchErr.code).toBe(ErrorCodes.BROKER_UNAVAILABLE);
    } finally {
      await down.close();
    }
    const noDb = new PostgresScheduleStore({ url: server.url.replace(/\/postgres$/, '/nope') });
    try {
      const err = await rejectionOf(() => noDb.acquireLeadership('me', 1000, 0));
      expect(err.code).toBe(ErrorCodes.BROKER_UNAVAILABLE);
      expect(err.details).toMatchObject({ sqlState: '3D000' });
      expect(err.message).toMatch(
        /database "nope" does not exist \(the database does not exist: create it/,
      );
    } finally {
      await noDb.close();
    }
  });

  it('importing @celeriac/beat (or opening a memory:// store) does not load pg; @celeriac/beat/postgres does', () => {
    const script = `
      const { createRequire } = await import('node:module');
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/pg/'));
      const { createScheduleStore } = await import('@celeriac/beat');
      await (await createScheduleStore('memory://')).close();
      const before = loaded();
      await import('@celeriac/beat/postgres');
      console.log(JSON.stringify([before, loaded()]));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
    });
    expect(JSON.parse(out.trim())).toEqual([false, true]);
  });
});
