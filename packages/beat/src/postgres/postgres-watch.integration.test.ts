import { setTimeout as sleep } from 'node:timers/promises';
import { startPostgresServer, uniqueName, type PostgresServerHandle } from '@celeriac/testing';
import { Client } from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileEntry, definitionHash } from '../entry.js';
import { interval } from '../schedules/interval.js';
import type { EntryChange, EntryWrite } from '../store/schedule-store.js';
import { PostgresScheduleStore } from './postgres-schedule-store.js';

let server: PostgresServerHandle;
beforeAll(async () => {
  server = await startPostgresServer();
});
afterAll(async () => {
  await server.stop();
});

function write(name: string, args: unknown[] = []): EntryWrite {
  const { definition } = compileEntry(
    { name, task: 't', schedule: interval(60), args },
    { timezone: 'UTC' },
  );
  return {
    definition,
    hash: definitionHash(definition),
    enabled: true,
    source: 'api',
    nextRunAt: 0,
    dueAt: 0,
  };
}

/** Polls `ok` until it holds or `ms` pass. */
async function until(ok: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

it('watch: every entry change made through one store reaches a watcher on another, after its commit, in its namespace only', async () => {
  const namespace = uniqueName('watch');
  const writer = new PostgresScheduleStore({ url: server.url, namespace, origin: 'writer' });
  const reader = new PostgresScheduleStore({ url: server.url, namespace });
  const elsewhere = new PostgresScheduleStore({ url: server.url, namespace: uniqueName('other') });
  const seen: EntryChange[] = [];
  const foreign: EntryChange[] = [];
  const visible: boolean[] = [];
  const watch = await reader.watch((change) => {
    seen.push(change);
    // The change is committed by the time it is announced: a read sees it.
    if (change.kind === 'added' && change.name)
      void reader.get(change.name).then((e) => visible.push(e !== undefined));
  });
  const other = await elsewhere.watch((change) => foreign.push(change));
  try {
    await writer.upsert([write('a'), write('b')], 'sync', 1);
    // Announced after the commit: a read made on hearing of it finds the entry.
    await until(() => visible.length === 2, 'the reads');
    expect(visible).toEqual([true, true]);
    await writer.upsert([write('a')], 'sync', 1); // unchanged: no change announced
    await writer.upsert([write('a', [1])], 'sync', 1);
    await writer.setEnabled('a', false, undefined, 1);
    await writer.setEnabled('a', true, { nextRunAt: 5, dueAt: 5 }, 1);
    await writer.remove('b', 1);
    await writer.removeAll(1);
    await until(() => seen.length >= 7, 'seven changes');
    expect(seen).toEqual([
      { kind: 'added', name: 'a', origin: 'writer' },
      { kind: 'added', name: 'b', origin: 'writer' },
      { kind: 'modified', name: 'a', origin: 'writer' },
      { kind: 'paused', name: 'a', origin: 'writer' },
      { kind: 'resumed', name: 'a', origin: 'writer' },
      { kind: 'removed', name: 'b', origin: 'writer' },
      { kind: 'cleared', origin: 'writer' },
    ]);
    expect(foreign).toEqual([]);
    // A write that changes nothing announces nothing.
    expect(await writer.remove('nope', 1)).toBe(false);
    await writer.upsert([write('c')], 'sync', 1);
    await until(() => seen.length === 8, 'the eighth change');
    expect(seen[7]).toEqual({ kind: 'added', name: 'c', origin: 'writer' });
  } finally {
    await watch.close();
    await watch.close();
    await other.close();
    await Promise.all([writer.close(), reader.close(), elsewhere.close()]);
  }
});

it('watch: the LISTEN connection is reopened when it drops, and the watcher is told to read again', async () => {
  const namespace = uniqueName('reconnect');
  const store = new PostgresScheduleStore({ url: server.url, namespace });
  const seen: EntryChange[] = [];
  const watch = await store.watch((change) => seen.push(change));
  const admin = new Client({ connectionString: server.url });
  await admin.connect();
  try {
    const killed = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'celeriac-beat-listen'`,
    );
    expect(killed.rowCount).toBe(1);
    // Reconnected: a change of unknown name tells the watcher it may have missed some.
    await until(() => seen.length > 0, 'the reconnect');
    expect(seen).toEqual([{ kind: 'modified' }]);
    await store.upsert([write('after')], 'sync', 1);
    await until(() => seen.length > 1, 'the change after the reconnect');
    expect(seen[1]).toMatchObject({ kind: 'added', name: 'after' });
    await watch.close();
    // Nobody watches: the LISTEN connection is closed (its backend exits soon after).
    const deadline = Date.now() + 5000;
    let listening = 1;
    while (listening > 0 && Date.now() < deadline) {
      const r = await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'celeriac-beat-listen'`,
      );
      listening = r.rows[0]?.n ?? 0;
      if (listening > 0) await sleep(20);
    }
    expect(listening).toBe(0);
  } finally {
    await watch.close();
    await store.close();
    await admin.end();
  }
});

it('watch: a second watch that fails while the server is down does not stop the first one reconnecting', async () => {
  const namespace = uniqueName('down');
  const store = new PostgresScheduleStore({ url: server.url, namespace, connectTimeoutMs: 2000 });
  const seen: EntryChange[] = [];
  const watch = await store.watch((change) => seen.push(change));
  try {
    await server.kill();
    // Once the store has seen the LISTEN connection drop, a new watch connects, and fails.
    let failed = false;
    const deadline = Date.now() + 10_000;
    while (!failed) {
      if (Date.now() > deadline) throw new Error('timed out waiting for a watch to fail');
      try {
        await (await store.watch(() => undefined)).close();
        await sleep(10);
      } catch {
        failed = true;
      }
    }
    await server.start();
    // The first watcher's connection is reopened all the same, and it is told to read again.
    await until(() => seen.length > 0, 'the reconnect', 20_000);
    expect(seen[0]).toEqual({ kind: 'modified' });
  } finally {
    await watch.close();
    await store.close();
  }
}, 60_000);
