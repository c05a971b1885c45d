import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { optionChecks } from '@celeriac/core/internal';
import {
  createTablesOnce,
  openSqliteWith,
  prepareStatements,
  sqliteError,
  type SqliteDatabase,
  type SqliteLocation,
} from '@celeriac/broker/sqlite/internal';
import type BetterSqlite3 from 'better-sqlite3';
import type { StoredEntry } from '../entry.js';
import {
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_PENDING,
  RECENT_RUNS_KEPT,
  leaseToken,
  parseToken,
  TOMBSTONE_TTL_MS,
  type ClaimResult,
  type EntryWrite,
  type Lease,
  type LeadershipResult,
  type NextRun,
  type PendingRun,
  type RunRef,
  type ScheduleStore,
  type TickClaim,
  type UpsertMode,
  type UpsertResult,
} from '../store/schedule-store.js';
import {
  EntryRows,
  parseRecentRuns,
  type EntryRow,
  type LockRow,
  type WriteRow,
} from './entry-rows.js';
import { ADDED_COLUMNS, addMissingColumns, SCHEMA, SQL, TABLES } from './schema.js';

/** Options of {@link SqliteScheduleStore}. */
export interface SqliteScheduleStoreOptions {
  /**
   * The database file, `sqlite://./celeriac.db` or `sqlite:///var/lib/celeriac.db`: usually
   * the broker's URL, so one file holds the queues, the results and the schedule. Created,
   * with its folder, when missing.
   */
  url: string;
  /**
   * Separates the schedules of several deployments in one file; also part of every run's
   * task id.
   * @default 'default'
   */
  namespace?: string;
  /** Live entries at most. @default 100000 */
  maxEntries?: number;
  /** Unconfirmed runs kept at most (the oldest are dropped). @default 100000 */
  maxPending?: number;
  /**
   * How long a write waits for another process's write lock before it fails, in
   * milliseconds.
   * @default 5000
   */
  busyTimeoutMs?: number;
}

const KNOWN: readonly (keyof SqliteScheduleStoreOptions)[] = [
  'url',
  'namespace',
  'maxEntries',
  'maxPending',
  'busyTimeoutMs',
];
const { invalid, positive, known } = optionChecks('SqliteScheduleStore');

/** A day after its claim a pending run is long stale (a new leader republishes within the lock TTL). */
const PENDING_TTL_MS = 86_400_000;
/** Tombstones deleted per write, at most. */
const PURGE_LIMIT = 100;

/** Statements read as one value, and as arrays in column order (no object per row). */
const PLUCKED: ReadonlySet<string> = new Set(['liveCount', 'nextDueAt', 'pendingCount']);
const RAW: ReadonlySet<string> = new Set(['get', 'list', 'due', 'pending']);

type Statements = { readonly [K in keyof typeof SQL]: BetterSqlite3.Statement<unknown[]> };

/**
 * The schedule store in a SQLite file, shared by every beat process on the host (and the
 * CLI's `celeriac beat add/list/...`) that opens the same `sqlite://` file: no server.
 *
 * Each change that must be atomic (upsert, remove, claim, settle, taking the lock) is one
 * `BEGIN IMMEDIATE` transaction: it takes the file's write lock before it reads, so two beats
 * cannot both read an entry as due and both advance it. The lock's fencing counter lives in
 * the lock's row and only grows. See `ScheduleStore` for the guarantees.
 *
 * Import it from `@celeriac/beat/sqlite`, so that `@celeriac/beat` itself never loads
 * better-sqlite3.
 *
 * @example
 * ```ts
 * import { SqliteScheduleStore } from '@celeriac/beat/sqlite';
 * const store = new SqliteScheduleStore({ url: 'sqlite://./celeriac.db' });
 * ```
 */
export class SqliteScheduleStore implements ScheduleStore {
  readonly namespace: string;
  /** The database file's absolute path. */
  readonly file: string;
  readonly #db: SqliteDatabase;
  readonly #location: SqliteLocation;
  readonly #sql: Statements;
  readonly #maxEntries: number;
  readonly #maxPending: number;
  readonly #rows = new EntryRows();
  readonly #upsert: BetterSqlite3.Transaction<
    (entries: readonly EntryWrite[], mode: UpsertMode, now: number) => UpsertResult[]
  >;
  readonly #remove: BetterSqlite3.Transaction<(name: string, now: number) => boolean>;
  readonly #claim: BetterSqlite3.Transaction<
    (lease: Lease, claims: readonly TickClaim[], now: number) => ClaimResult[]
  >;
  readonly #settle: BetterSqlite3.Transaction<(runs: readonly RunRef[]) => void>;
  readonly #acquire: BetterSqlite3.Transaction<
    (owner: string, ttlMs: number, now: number) => LeadershipResult
  >;
  #closed = false;

  constructor(options: SqliteScheduleStoreOptions) {
    if (typeof options !== 'object' || options === null)
      throw invalid('options', 'must be an object');
    known(options, KNOWN);
    if (typeof options.url !== 'string' || !/^sqlite:\/\//i.test(options.url)) {
      throw invalid(
        'url',
        `must be a sqlite:// URL such as sqlite://./celeriac.db, got ${JSON.stringify(options.url)}`,
      );
    }
    const namespace = options.namespace ?? 'default';
    if (typeof namespace !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(namespace)) {
      throw invalid(
        'namespace',
        `must be 1-100 characters of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(namespace)}`,
      );
    }
    this.namespace = namespace;
    this.#maxEntries = positive('maxEntries', options.maxEntries, DEFAULT_MAX_ENTRIES, true);
    this.#maxPending = positive('maxPending', options.maxPending, DEFAULT_MAX_PENDING, true);
    const busyTimeoutMs = positive('busyTimeoutMs', options.busyTimeoutMs, 5000, true);
    const { db, location, prepared } = openSqliteWith(
      options.url,
      { busyTimeoutMs, what: 'creating the beat tables' },
      (db) => {
        createTablesOnce(db, TABLES, SCHEMA);
        addMissingColumns(db, ADDED_COLUMNS);
        const statements = prepareStatements(db, SQL);
        for (const [key, statement] of Object.entries(statements)) {
          if (PLUCKED.has(key)) statement.pluck();
          else if (RAW.has(key)) statement.raw();
        }
        return statements;
      },
    );
    this.#db = db;
    this.#location = location;
    this.file = location.file;
    this.#sql = prepared;
    this.#upsert = db.transaction(this.#upsertTx);
    this.#remove = db.transaction(this.#removeTx);
    this.#claim = db.transaction(this.#claimTx);
    this.#settle = db.transaction(this.#settleTx);
    this.#acquire = db.transaction(this.#acquireTx);
  }

  #run<T>(what: string, fn: () => T): Promise<T> {
    if (this.#closed)
      return Promise.reject(new CeleriacError(ErrorCodes.CLOSED, 'this schedule store was closed'));
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(
        err instanceof CeleriacError
          ? err
          : sqliteError(this.#location, `beat schedule store: ${what}`, err),
      );
    }
  }

  upsert(entries: readonly EntryWrite[], mode: UpsertMode, now: number): Promise<UpsertResult[]> {
    return this.#run('upsert', () => this.#upsert.immediate(entries, mode, now));
  }

  readonly #upsertTx = (
    entries: readonly EntryWrite[],
    mode: UpsertMode,
    now: number,
  ): UpsertResult[] => {
    const ns = this.namespace;
    const sql = this.#sql;
    this.#purgeTombstones(now);
    let live = sql.liveCount.get(ns) as number;
    const results: UpsertResult[] = [];
    for (const e of entries) {
      const name = e.definition.name;
      const row = sql.entryForWrite.get(ns, name) as WriteRow | undefined;
      // A tombstone older than its TTL is as good as absent, as the Redis hash would have expired.
      const tomb =
        row !== undefined && row.removed_at !== null
          ? now - row.removed_at > TOMBSTONE_TTL_MS
            ? undefined
            : row
          : undefined;
      const isLive = row !== undefined && row.removed_at === null;
      if (isLive && mode === 'create') {
        results.push({ name, status: 'exists' });
        continue;
      }
      if (isLive && mode === 'sync' && row.hash === e.hash) {
        results.push({ name, status: 'unchanged' });
        continue;
      }
      if (!isLive && live >= this.#maxEntries) {
        results.push({ name, status: 'full' });
        continue;
      }
      const columns = [
        JSON.stringify(e.definition),
        e.hash,
        e.enabled ? 1 : 0,
        e.source,
        e.nextRunAt,
        e.dueAt,
      ];
      if (isLive) {
        sql.update.run(...columns, ns, name);
      } else {
        // New, or re-added within a day of its removal: only the revision and the high-water
        // mark carry over, so a run claimed before the removal is never claimed again.
        sql.insert.run(
          ns,
          name,
          ...columns,
          (tomb?.revision ?? 0) + 1,
          tomb?.claimed_until ?? null,
        );
        live++;
      }
      results.push({ name, status: isLive ? 'updated' : 'created' });
    }
    return results;
  };

  #purgeTombstones(now: number): void {
    this.#sql.purgeTombstones.run(
      this.namespace,
      this.namespace,
      now - TOMBSTONE_TTL_MS,
      PURGE_LIMIT,
    );
  }

  remove(name: string, now: number): Promise<boolean> {
    return this.#run('remove', () => this.#remove.immediate(name, now));
  }

  readonly #removeTx = (name: string, now: number): boolean => {
    this.#purgeTombstones(now);
    this.#rows.forget(name);
    return this.#sql.remove.run(now, this.namespace, name).changes === 1;
  };

  setEnabled(
    name: string,
    enabled: boolean,
    next: NextRun | undefined,
    _now: number,
  ): Promise<boolean> {
    return this.#run('setEnabled', () => {
      const on = enabled ? 1 : 0;
      const r = next
        ? this.#sql.setEnabledNext.run(on, next.nextRunAt, next.dueAt, this.namespace, name)
        : this.#sql.setEnabled.run(on, this.namespace, name);
      return r.changes === 1;
    });
  }

  #entry(row: EntryRow): StoredEntry {
    return this.#rows.entry(row);
  }

  get(name: string): Promise<StoredEntry | undefined> {
    return this.#run('get', () => {
      const row = this.#sql.get.get(this.namespace, name) as EntryRow | undefined;
      return row === undefined ? undefined : this.#entry(row);
    });
  }

  list(): Promise<StoredEntry[]> {
    return this.#run('list', () => {
      const rows = this.#sql.list.all(this.namespace) as EntryRow[];
      return rows
        .map((r) => this.#entry(r))
        .sort((a, b) => a.definition.name.localeCompare(b.definition.name));
    });
  }

  due(now: number, limit: number): Promise<StoredEntry[]> {
    return this.#run('due', () =>
      (this.#sql.due.all(this.namespace, now, limit) as EntryRow[]).map((r) => this.#entry(r)),
    );
  }

  nextDueAt(): Promise<number | undefined> {
    return this.#run(
      'nextDueAt',
      () => (this.#sql.nextDueAt.get(this.namespace) as number | null) ?? undefined,
    );
  }

  claim(lease: Lease, claims: readonly TickClaim[], now: number): Promise<ClaimResult[]> {
    if (claims.length === 0) return this.#run('claim', () => []);
    return this.#run('claim', () => this.#claim.immediate(lease, claims, now));
  }

  readonly #claimTx = (lease: Lease, claims: readonly TickClaim[], now: number): ClaimResult[] => {
    const ns = this.namespace;
    const sql = this.#sql;
    const lock = sql.lock.get(ns) as LockRow | undefined;
    if (lock?.token !== lease.token || lock.expires_at === null || lock.expires_at <= now) {
      return claims.map((c) => ({ name: c.name, status: 'fenced' as const }));
    }
    let added = 0;
    const results = claims.map((c): ClaimResult => {
      const row = sql.entryForWrite.get(ns, c.name) as WriteRow | undefined;
      if (
        !row ||
        row.removed_at !== null ||
        row.enabled !== 1 ||
        row.revision !== c.revision ||
        row.next_run_at !== c.expectedNextRunAt
      ) {
        return { name: c.name, status: 'stale' };
      }
      let high = row.claimed_until;
      const runs: number[] = [];
      for (const t of c.runs) {
        if (high === null || t > high) {
          runs.push(t);
          high = t;
        }
      }
      if (high !== null && runs.length > 0) {
        const recent = [...parseRecentRuns(row.recent_runs), ...runs].slice(-RECENT_RUNS_KEPT);
        sql.claimRuns.run(
          high,
          high,
          now,
          runs.length,
          c.nextRunAt,
          c.dueAt,
          recent.join(','),
          ns,
          c.name,
        );
        for (const t of runs) sql.addPending.run(ns, c.name, t, now);
        added += runs.length;
      } else {
        sql.advance.run(c.nextRunAt, c.dueAt, ns, c.name);
      }
      return { name: c.name, status: 'claimed', runs };
    });
    if (added > 0) {
      sql.expirePending.run(ns, now - PENDING_TTL_MS);
      const over = (sql.pendingCount.get(ns) as number) - this.#maxPending;
      if (over > 0) sql.trimPending.run(ns, ns, over);
    }
    return results;
  };

  settle(runs: readonly RunRef[]): Promise<void> {
    if (runs.length === 0) return this.#run('settle', () => undefined);
    return this.#run('settle', () => this.#settle.immediate(runs));
  }

  readonly #settleTx = (runs: readonly RunRef[]): void => {
    for (const r of runs) this.#sql.settle.run(this.namespace, r.name, r.scheduledAt);
  };

  pending(claimedBefore: number, limit: number): Promise<PendingRun[]> {
    return this.#run('pending', () =>
      (
        this.#sql.pending.all(this.namespace, claimedBefore, limit) as [string, number, number][]
      ).map(([name, scheduledAt, claimedAt]) => ({ name, scheduledAt, claimedAt })),
    );
  }

  acquireLeadership(owner: string, ttlMs: number, now: number): Promise<LeadershipResult> {
    return this.#run('acquireLeadership', () =>
      this.#acquire.immediate(owner, Math.round(ttlMs), now),
    );
  }

  readonly #acquireTx = (owner: string, ttlMs: number, now: number): LeadershipResult => {
    const ns = this.namespace;
    const lock = this.#sql.lock.get(ns) as LockRow | undefined;
    if (lock?.token && lock.expires_at !== null && lock.expires_at > now) {
      if (lock.owner === owner) {
        this.#sql.renew.run(now + ttlMs, ns, lock.token, now);
        return { acquired: true, lease: { owner, fence: lock.fence, token: lock.token } };
      }
      return { acquired: false, holder: lock.owner ?? '', ttlMs: lock.expires_at - now };
    }
    const fence = (lock?.fence ?? 0) + 1;
    const token = leaseToken(fence, owner);
    this.#sql.takeLock.run(ns, fence, token, owner, now + ttlMs);
    return { acquired: true, lease: { owner, fence, token } };
  };

  renewLeadership(lease: Lease, ttlMs: number, now: number): Promise<boolean> {
    return this.#run(
      'renewLeadership',
      () =>
        this.#sql.renew.run(now + Math.round(ttlMs), this.namespace, lease.token, now).changes ===
        1,
    );
  }

  releaseLeadership(lease: Lease): Promise<void> {
    return this.#run('releaseLeadership', () => {
      this.#sql.release.run(this.namespace, lease.token);
    });
  }

  leader(now: number): Promise<{ owner: string; fence: number; ttlMs: number } | undefined> {
    return this.#run('leader', () => {
      const lock = this.#sql.lock.get(this.namespace) as LockRow | undefined;
      if (!lock?.token || lock.expires_at === null || lock.expires_at <= now) return undefined;
      const { fence, owner } = parseToken(lock.token);
      return { owner, fence, ttlMs: lock.expires_at - now };
    });
  }

  /** Closes the store's connection. Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#db.close();
    return Promise.resolve();
  }
}
