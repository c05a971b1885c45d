import type BetterSqlite3 from 'better-sqlite3';
import {
  CeleriacError,
  ErrorCodes,
  silentLogger,
  systemClock,
  type Clock,
  type Coordination,
  type Logger,
  type Revocation,
  type RevocationWatch,
  type RevokeOptions,
} from '@celeriac/core';
import { optionChecks, MAX_REVOKED } from '@celeriac/core/internal';
import {
  openSqlite,
  SqliteChangeFeed,
  sqliteError,
  type SqliteDatabase,
  type SqliteLocation,
} from '../sqlite/connection.js';
import { rejectUnknownKeys } from '../sqlite/options.js';

export interface SqliteCoordinationOptions {
  /** The database file, as the broker's: `sqlite://./celeriac.db`. @default undefined (required) */
  url: string;
  /**
   * How long a statement waits for another process's write lock, in milliseconds.
   * @default 5000
   */
  busyTimeoutMs?: number;
  /**
   * How often revocation watchers check for other processes' commits when the OS file watcher
   * says nothing, in milliseconds.
   * @default 250
   */
  pollIntervalMs?: number;
  /** @default silentLogger */
  logger?: Logger;
  /**
   * Time source for expiries and rate slots; every process sharing the file reads the same
   * system clock.
   * @default systemClock
   */
  clock?: Clock;
}

const KNOWN: ReadonlySet<string> = new Set<keyof SqliteCoordinationOptions>([
  'url',
  'busyTimeoutMs',
  'pollIntervalMs',
  'logger',
  'clock',
]);

const REVOKED = 'celeriac_coord_revoked';
const RATE = 'celeriac_coord_rate';
const UNIQUE = 'celeriac_coord_unique';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ${REVOKED} (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  terminate INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ${REVOKED}_expiry ON ${REVOKED} (expires_at);
CREATE TABLE IF NOT EXISTS ${RATE} (key TEXT PRIMARY KEY, next_slot REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ${UNIQUE} (key TEXT PRIMARY KEY, task_id TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
`;

const SQL = {
  /** REPLACE gives a re-revoked id a new seq, so watchers see it again. */
  revoke: `INSERT OR REPLACE INTO ${REVOKED} (id, terminate, expires_at) VALUES (?, ?, ?)`,
  expire: `DELETE FROM ${REVOKED} WHERE expires_at <= ?`,
  cap: `DELETE FROM ${REVOKED} WHERE seq <= (SELECT seq FROM ${REVOKED} ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
  lastSeq: `SELECT coalesce(max(seq), 0) FROM ${REVOKED}`,
  since: `SELECT seq, id, terminate, expires_at FROM ${REVOKED} WHERE seq > ? AND expires_at > ? ORDER BY seq`,
  rateGet: `SELECT next_slot FROM ${RATE} WHERE key = ?`,
  rateSet: `INSERT INTO ${RATE} (key, next_slot) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET next_slot = excluded.next_slot`,
  rateSweep: `DELETE FROM ${RATE} WHERE next_slot <= ?`,
  uniqueGet: `SELECT task_id, expires_at FROM ${UNIQUE} WHERE key = ?`,
  uniqueSet: `INSERT INTO ${UNIQUE} (key, task_id, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET task_id = excluded.task_id, expires_at = excluded.expires_at`,
  uniqueSweep: `DELETE FROM ${UNIQUE} WHERE expires_at <= ?`,
} as const;

type Statements = { readonly [K in keyof typeof SQL]: BetterSqlite3.Statement };

interface RevokedRow {
  seq: number;
  id: string;
  terminate: number;
  expires_at: number;
}

const toRevocation = (r: RevokedRow): Revocation => ({
  id: r.id,
  terminate: r.terminate !== 0,
  expiresAt: r.expires_at,
});

let burst: { clock: Clock; now: number } | undefined;

/**
 * The clock read once per synchronous burst of calls (cleared at the next microtask checkpoint):
 * reservations made together, as `Promise.all` over several clients, are spaced exactly,
 * whatever the scheduler does between them. A stale "now" only ever makes a caller wait
 * longer than needed (the wait is measured from it), never start early.
 */
function burstNow(clock: Clock): number {
  if (burst?.clock !== clock) {
    burst = { clock, now: clock.now() };
    queueMicrotask(() => {
      burst = undefined;
    });
  }
  return burst.now;
}

/** Sweep expired rate and uniqueness rows once per this many calls. */
const SWEEP_EVERY = 1024;

/**
 * Coordination on the SQLite file the broker uses, shared by every process on the host:
 * revocations in a table (capped at 50,000 like Celery's, each with its expiry) that watchers
 * read again whenever another process commits (the change feed), rate slots as one row per
 * limit holding the next free slot, uniqueness claims as one row per key with an expiry. Each
 * reservation and claim is one `BEGIN IMMEDIATE` transaction, so processes never race.
 */
export class SqliteCoordination implements Coordination {
  readonly kind = 'sqlite' as const;
  readonly #db: SqliteDatabase;
  readonly #location: SqliteLocation;
  readonly #s: Statements;
  readonly #feed: SqliteChangeFeed;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #watches = new Set<() => void>();
  readonly #revokeTx: BetterSqlite3.Transaction<
    (ids: readonly string[], terminate: number, expiresAt: number, now: number) => void
  >;
  readonly #rateTx: BetterSqlite3.Transaction<(key: string, spacing: number) => number>;
  readonly #uniqueTx: BetterSqlite3.Transaction<
    (key: string, taskId: string, ttlMs: number) => string | null
  >;
  #calls = 0;
  #closed = false;

  constructor(options: SqliteCoordinationOptions) {
    const { invalid, positive } = optionChecks('SqliteCoordination');
    if (typeof options !== 'object' || options === null)
      throw invalid('options', 'must be an object with at least `url`');
    rejectUnknownKeys('SqliteCoordination', options, KNOWN);
    if (typeof options.url !== 'string')
      throw invalid('url', 'is required, e.g. sqlite://./celeriac.db');
    const busyTimeoutMs = positive('busyTimeoutMs', options.busyTimeoutMs, 5000);
    const pollIntervalMs = positive('pollIntervalMs', options.pollIntervalMs, 250);
    this.#logger = options.logger ?? silentLogger;
    this.#clock = options.clock ?? systemClock;
    const { db, location } = openSqlite(options.url, { busyTimeoutMs });
    this.#db = db;
    this.#location = location;
    try {
      db.exec(SCHEMA);
      const s: Record<string, BetterSqlite3.Statement> = {};
      for (const [name, sql] of Object.entries(SQL)) s[name] = db.prepare(sql);
      this.#s = s as Statements;
    } catch (err) {
      db.close();
      throw sqliteError(location, 'creating the coordination tables', err);
    }
    this.#s.lastSeq.pluck();
    this.#s.rateGet.pluck();
    this.#feed = new SqliteChangeFeed(db, location, { pollIntervalMs });
    const s = this.#s;
    this.#revokeTx = db.transaction(
      (ids: readonly string[], terminate: number, expiresAt: number, now: number) => {
        s.expire.run(now);
        for (const id of ids) s.revoke.run(id, terminate, expiresAt);
        s.cap.run(MAX_REVOKED);
      },
    );
    this.#rateTx = db.transaction((key: string, spacing: number) => {
      const now = burstNow(this.#clock);
      const stored = s.rateGet.get(key) as number | undefined;
      const next = Math.max(stored ?? now, now);
      s.rateSet.run(key, next + spacing);
      return Math.ceil(next - now);
    });
    this.#uniqueTx = db.transaction((key: string, taskId: string, ttlMs: number) => {
      const now = this.#clock.now();
      const held = s.uniqueGet.get(key) as { task_id: string; expires_at: number } | undefined;
      if (held !== undefined && held.expires_at > now) return held.task_id;
      s.uniqueSet.run(key, taskId, now + ttlMs);
      return null;
    });
  }

  revoke(ids: readonly string[], options: RevokeOptions): Promise<void> {
    return this.#run('revoking tasks', () => {
      if (ids.length === 0) return;
      const now = this.#clock.now();
      this.#revokeTx.immediate(ids, options.terminate ? 1 : 0, now + options.ttlMs, now);
      // Watchers on this connection do not see its own commits through the feed.
      this.#feed.notify();
    });
  }

  watchRevocations(listener: (revocation: Revocation) => void): Promise<RevocationWatch> {
    return this.#run('reading revocations', () => {
      let last = this.#s.lastSeq.get() as number;
      const current = (this.#s.since.all(0, this.#clock.now()) as RevokedRow[]).map(toRevocation);
      const onChange = (): void => {
        if (this.#closed) return;
        let rows: RevokedRow[];
        try {
          rows = this.#s.since.all(last, this.#clock.now()) as RevokedRow[];
        } catch (err) {
          this.#logger.warn(
            { err: sqliteError(this.#location, 'reading revocations', err) },
            'could not read new revocations; will retry on the next change',
          );
          return;
        }
        for (const r of rows) {
          last = Math.max(last, r.seq);
          listener(toRevocation(r));
        }
      };
      const unsubscribe = this.#feed.subscribe(onChange);
      this.#watches.add(unsubscribe);
      return {
        current,
        stop: () => {
          this.#watches.delete(unsubscribe);
          unsubscribe();
          return Promise.resolve();
        },
      };
    });
  }

  reserveRateSlot(key: string, count: number, intervalMs: number): Promise<number> {
    return this.#run('reserving a rate-limit slot', () => {
      this.#sweep();
      return this.#rateTx.immediate(key, intervalMs / count);
    });
  }

  claimUnique(key: string, taskId: string, ttlMs: number): Promise<string | null> {
    return this.#run('claiming a uniqueness key', () => {
      this.#sweep();
      return this.#uniqueTx.immediate(key, taskId, Math.max(1, Math.ceil(ttlMs)));
    });
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const stop of this.#watches) stop();
    this.#watches.clear();
    this.#feed.close();
    this.#db.close();
    return Promise.resolve();
  }

  #sweep(): void {
    if (++this.#calls % SWEEP_EVERY !== 0) return;
    const now = this.#clock.now();
    this.#s.rateSweep.run(now);
    this.#s.uniqueSweep.run(now);
  }

  #run<T>(what: string, fn: () => T): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new CeleriacError(
          ErrorCodes.CLOSED,
          `the SQLite coordination store for ${this.#location.file} was closed`,
        ),
      );
    }
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(
        err instanceof CeleriacError ? err : sqliteError(this.#location, what, err),
      );
    }
  }
}
