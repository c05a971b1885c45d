import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqliteBroker } from '@celeriac/broker/sqlite';
import { isSqliteFusedAck, type SqliteFusedAck } from '@celeriac/broker/sqlite/internal';
import {
  buildResultDocument,
  ErrorCodes,
  isCeleriacError,
  ManualClock,
  type BrokerMessage,
  type Delivery,
  type ResultBackend,
} from '@celeriac/core';
import { createResultBackend } from '../index.js';
import { SqliteResultBackend } from './index.js';

const STORE_FIXTURE = fileURLToPath(
  new URL('../../test-fixtures/store-result.js', import.meta.url),
);
const WAIT_FIXTURE = fileURLToPath(new URL('../../test-fixtures/wait-result.js', import.meta.url));

let dir: string;
let url: string;
const opened: ResultBackend[] = [];

function open(
  options: Partial<ConstructorParameters<typeof SqliteResultBackend>[0]> = {},
): SqliteResultBackend {
  const backend = new SqliteResultBackend({ url, ...options });
  opened.push(backend);
  return backend;
}

/** A plain connection of the test's own, to look at the rows as another program would. */
function inspect<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(join(dir, 'r.db'), { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-results-'));
  url = `sqlite://${join(dir, 'r.db')}`;
});

afterEach(async () => {
  for (const b of opened.splice(0)) await b.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SqliteResultBackend', () => {
  it('waitFor resolves when a separate node process stores the result', async () => {
    const backend = open();
    const ids = ['child-a', 'child-b'];
    const waits = ids.map((id) => backend.waitFor(id, { timeoutMs: 20_000 }));
    const child = spawn(process.execPath, [STORE_FIXTURE, url, 'child-a', '{"sum":5}'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, stderr).toBe(0);
    const a = await waits[0]!;
    expect(a).toMatchObject({ status: 'SUCCESS', result: { sum: 5 }, task_id: 'child-a' });

    // A second child, while the first wait is over and the other still listens.
    const second = spawn(process.execPath, [STORE_FIXTURE, url, 'child-b', '"b"'], {
      stdio: 'ignore',
    });
    expect(await new Promise((resolve) => second.once('exit', resolve))).toBe(0);
    expect((await waits[1]!).result).toBe('b');
  });

  it('a process awaiting a result with no timeout stays alive until it arrives', async () => {
    const child = spawn(process.execPath, [WAIT_FIXTURE, url, 'awaited'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('waiting\n')) resolve();
      });
      void exited.then((code) =>
        reject(new Error(`exited ${String(code)} before waiting: ${stderr}`)),
      );
    });
    // Give an early exit the chance to happen: the child's loop has nothing else to do.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(child.exitCode, stderr).toBeNull();
    await open().store(
      buildResultDocument({ taskId: 'awaited', status: 'SUCCESS', result: { ok: 1 } }),
    );
    expect(await exited, stderr).toBe(0);
    expect(stdout).toBe('waiting\n{"ok":1}\n');
  });

  it("stores in the SQLite broker's ack transaction when the delivery is on the same file", async () => {
    const message: BrokerMessage = {
      body: Buffer.from('[[], {}, {}]'),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: {},
      properties: {},
    };
    const take = async (broker: SqliteBroker): Promise<Delivery> => {
      await broker.declareQueue('q');
      await broker.publish('q', message);
      return new Promise<Delivery>((resolve, reject) => {
        broker.consume({ queues: ['q'], prefetch: 1, onMessage: resolve }).catch(reject);
      });
    };
    /** The results of `ackWithin` on the delivery's fused acks: taken when a promise. */
    const watchFused = (delivery: Delivery): (Promise<void> | undefined)[] => {
      const calls: (Promise<void> | undefined)[] = [];
      const original = delivery.fusedAck?.bind(delivery);
      vi.spyOn(delivery, 'fusedAck').mockImplementation(() => {
        const fused = original?.();
        if (fused === undefined || !isSqliteFusedAck(fused)) return fused;
        const watched: SqliteFusedAck = {
          ...fused,
          ackWithin: (write) => {
            const taken = fused.ackWithin(write);
            calls.push(taken);
            return taken;
          },
        };
        return watched;
      });
      return calls;
    };
    const backend = open();
    const waiter = open();

    const same = new SqliteBroker({ url });
    try {
      const delivery = await take(same);
      const within = watchFused(delivery);
      const waiting = waiter.waitFor('fused', { timeoutMs: 10_000 });
      await backend.store(buildResultDocument({ taskId: 'fused', status: 'SUCCESS', result: 7 }), {
        ack: delivery,
      });
      expect(within).toHaveLength(1);
      expect(within[0]).toBeInstanceOf(Promise); // taken: same file
      expect((await waiting).result).toBe(7);
      expect([await same.count('q'), await same.countReserved('q')]).toEqual([0, 0]);
    } finally {
      await same.close();
    }

    // A broker on another file: store here, then ack there.
    const other = new SqliteBroker({ url: `sqlite://${join(dir, 'other.db')}` });
    try {
      const delivery = await take(other);
      const within = watchFused(delivery);
      const fusedAck = vi.mocked(delivery.fusedAck!);
      await backend.store(buildResultDocument({ taskId: 'apart', status: 'SUCCESS', result: 8 }), {
        ack: delivery,
      });
      // Offered, but for another file: not taken.
      expect(fusedAck).toHaveBeenCalledTimes(1);
      expect(fusedAck.mock.results[0]?.value).toMatchObject({ transport: 'sqlite' });
      expect(within).toEqual([]);
      expect((await backend.get('apart'))?.result).toBe(8);
      expect([await other.count('q'), await other.countReserved('q')]).toEqual([0, 0]);
    } finally {
      await other.close();
    }
  });

  it('a waiter finds its task among thousands of other commits', async () => {
    const client = open();
    const worker = open();
    const waiting = client.waitFor('needle', { timeoutMs: 10_000 });
    const early = client.waitFor('early', { timeoutMs: 10_000 });
    // One transaction of 2,500 documents, more than one page of changes, the awaited one last.
    const stores = Array.from({ length: 2500 }, (_, i) =>
      worker.store(buildResultDocument({ taskId: `hay-${i}`, status: 'SUCCESS', result: i })),
    );
    stores.push(worker.store(buildResultDocument({ taskId: 'early', status: 'STARTED' })));
    stores.push(
      worker.store(buildResultDocument({ taskId: 'needle', status: 'SUCCESS', result: 'found' })),
    );
    await Promise.all(stores);
    expect((await waiting).result).toBe('found');
    // Not ready yet: still waiting, and woken by the next ready state.
    await worker.store(buildResultDocument({ taskId: 'early', status: 'REVOKED' }));
    expect((await early).status).toBe('REVOKED');
  });

  it("keeps Celery's document as the row's JSON, with its expiry", async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const backend = open({ clock, resultExpiresMs: 3_600_000 });
    const doc = buildResultDocument({
      taskId: 't-json',
      status: 'SUCCESS',
      result: [1, 'two'],
      dateDone: new Date('2030-01-01T00:00:00Z'),
      parentId: 'p-1',
    });
    await backend.store(doc);
    const row = inspect((db) =>
      db
        .prepare('SELECT status, document, expires_at FROM celeriac_results WHERE task_id = ?')
        .get('t-json'),
    ) as { status: string; document: string; expires_at: number };
    expect(row.status).toBe('SUCCESS');
    expect(JSON.parse(row.document)).toEqual(doc);
    expect(Object.keys(JSON.parse(row.document) as object)).toEqual(Object.keys(doc));
    expect(row.expires_at).toBe(clock.now() + 3_600_000);
  });

  it('keeps a SUCCESS when two connections store for one task in the same turn', async () => {
    const a = open();
    const b = open();
    await a.store(buildResultDocument({ taskId: 't-race', status: 'SUCCESS', result: 'first' }));
    await Promise.all([
      b.store(buildResultDocument({ taskId: 't-race', status: 'FAILURE', result: 'late' })),
      a.store(buildResultDocument({ taskId: 't-race', status: 'STARTED' })),
    ]);
    expect(await b.get('t-race')).toMatchObject({ status: 'SUCCESS', result: 'first' });
  });

  it('treats expired documents as absent at once and sweeps them in bounded batches', async () => {
    const clock = new ManualClock(1_000_000);
    const backend = open({ clock, sweepLimit: 2 });
    for (let i = 0; i < 5; i++) {
      await backend.store(
        buildResultDocument({ taskId: `old-${i}`, status: 'SUCCESS', result: i }),
        { expiresMs: 1000 },
      );
    }
    clock.advance(1001);
    expect(await backend.getMany(['old-0', 'old-4'])).toEqual([null, null]);
    const rows = (): number =>
      inspect((db) => db.prepare('SELECT count(*) FROM celeriac_results').pluck().get() as number);
    expect(rows()).toBe(5);
    clock.advance(60_000);
    await backend.store(buildResultDocument({ taskId: 'new-1', status: 'STARTED' }));
    expect(rows()).toBe(4); // 5 expired - 2 swept + 1 new
    // A full batch means more may be left: the next store sweeps again.
    await backend.store(buildResultDocument({ taskId: 'new-2', status: 'STARTED' }));
    expect(rows()).toBe(3);
    await backend.store(buildResultDocument({ taskId: 'new-3', status: 'STARTED' }));
    expect(rows()).toBe(3); // the last expired one, and no more sweeping until a minute passed
    await backend.store(buildResultDocument({ taskId: 'new-4', status: 'STARTED' }));
    expect(rows()).toBe(4);
  });

  it('close writes the stores already queued', async () => {
    const backend = open();
    const stored = backend.store(
      buildResultDocument({ taskId: 't-close', status: 'SUCCESS', result: 1 }),
    );
    await backend.close();
    await stored;
    expect((await open().get('t-close'))?.result).toBe(1);
    await expect(
      backend.store(buildResultDocument({ taskId: 'x', status: 'STARTED' })),
    ).rejects.toMatchObject({
      code: ErrorCodes.CLOSED,
    });
  });

  it('createResultBackend("sqlite://…") loads it, with the app-wide options', async () => {
    const backend = await createResultBackend(url, {
      brokerUrl: url,
      resultExpiresMs: 5000,
      clock: new ManualClock(0),
    });
    opened.push(backend);
    expect(backend.kind).toBe('sqlite');
    expect((backend as SqliteResultBackend).file).toBe(join(dir, 'r.db'));
  });

  it('rejects unknown and wrong options, naming the nearest valid one', () => {
    const unknown = caught(() => new SqliteResultBackend({ url, resultExpires: 3600 } as never));
    expect(isCeleriacError(unknown, ErrorCodes.INVALID_OPTION)).toBe(true);
    expect((unknown as Error).message).toMatch(
      /"resultExpires" is unknown; did you mean "resultExpiresMs"/,
    );
    for (const bad of [
      { resultExpiresMs: 0 },
      { busyTimeoutMs: 1.5 },
      { sweepLimit: -1 },
      { pollIntervalMs: 'fast' },
    ]) {
      const err = caught(() => new SqliteResultBackend({ url, ...(bad as object) }));
      expect(isCeleriacError(err, ErrorCodes.INVALID_OPTION), JSON.stringify(bad)).toBe(true);
      expect((err as Error).message).toContain(Object.keys(bad)[0]);
    }
    expect(
      isCeleriacError(
        caught(() => new SqliteResultBackend({} as never)),
        ErrorCodes.INVALID_OPTION,
      ),
    ).toBe(true);
    expect(
      isCeleriacError(
        caught(() => new SqliteResultBackend({ url: 'sqlite://:memory:' })),
        ErrorCodes.UNSUPPORTED_URL,
      ),
    ).toBe(true);
  });
});
