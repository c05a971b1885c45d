import { hostname } from 'node:os';
import { CeleriacError, ErrorCodes } from '@celeriac/core';
import {
  optionChecks,
  optionTypes as t,
  redactUrl,
  type OptionType,
} from '@celeriac/core/internal';
import type { PoolClient } from 'pg';
import type { StoredEntry } from '../entry.js';
import { DefinitionCache } from '../store/definition-cache.js';
import {
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_PENDING,
  TOMBSTONE_TTL_MS,
  type ClaimResult,
  type EntryChange,
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
import { PgChangeFeed, type ChangePayload } from './pg-change-feed.js';
import { PgDatabase } from './pg-database.js';
import { PgLeaderLock } from './pg-leader-lock.js';
import { planClaims, planUpsert, type ClaimRow, type WriteRow } from './pg-plans.js';
import { IDENTIFIER, pgNames, statements, type PgNames, type PgStatements } from './schema.js';

/** Options of {@link PostgresScheduleStore}. */
export interface PostgresScheduleStoreOptions {
  /** `postgresql://[user[:password]@]host[:port]/database[?sslmode=…]` (or `postgres://…`). */
  url: string;
  /**
   * Separates the schedules of several deployments in one set of tables; also part of every
   * run's task id.
   * @default 'default'
   */
  namespace?: string;
  /** The schema of the tables, created when missing. @default 'public' */
  schema?: string;
  /** Starts the name of each table (`<prefix>entries`, `<prefix>lock`, `<prefix>pending`). @default 'celeriac_beat_' */
  tablePrefix?: string;
  /** Live entries at most. @default 100000 */
  maxEntries?: number;
  /** Unconfirmed runs kept at most (the oldest are dropped). @default 100000 */
  maxPending?: number;
  /** Connections of the pool (plus one for `watch`). @default 4 */
  poolSize?: number;
  /** How long opening a connection may take, in milliseconds. @default 10000 */
  connectTimeoutMs?: number;
  /** Names this store's writes in the changes `watch` reports. @default '<hostname>:<pid>' */
  origin?: string;
}

/** A day after its claim a pending run is long stale (a new leader republishes within the lock TTL). */
const PENDING_TTL_MS = 86_400_000;
/** Tombstones deleted per write, at most. */
const PURGE_LIMIT = 100;

/** An entry as the statements `get`, `list` and `due` read it. */
interface EntryRow {
  name: string;
  definition: string;
  enabled: boolean;
  source: string;
  next_run_at: number | null;
  last_run_at: number | null;
  last_dispatched_at: number | null;
  total_run_count: number;
  revision: number;
  recent_runs: number[];
}

/**
 * The schedule store in PostgreSQL, shared by every beat process on any host, and the CLI,
 * that opens the same database: the tables of `schema.ts`, created on first use.
 *
 * - The leader lock is a row per namespace; it is taken, renewed and checked against the
 *   **database's clock**, so hosts with skewed clocks agree on who leads. Taking it is one
 *   `INSERT … ON CONFLICT DO UPDATE`, and the fencing counter only grows.
 * - A claim is one transaction: it locks the lock row `FOR SHARE` (checking the token and
 *   expiry, so the lock cannot change hands until the claim commits), then the claimed entry
 *   rows `FOR UPDATE` in name order, checks revision, next run and high-water mark, and
 *   advances the entries and records the pending runs in a few batched statements.
 * - Every write that changes entries NOTIFYs the store's channel in its own transaction, so
 *   `watch` sees it in every process exactly when it commits.
 *
 * Import it from `@celeriac/beat/postgres`, so that `@celeriac/beat` itself never loads pg.
 *
 * @example
 * ```ts
 * import { PostgresScheduleStore } from '@celeriac/beat/postgres';
 * const store = new PostgresScheduleStore({ url: 'postgresql://beat@db.internal/app' });
 * ```
 */
export class PostgresScheduleStore implements ScheduleStore {
  readonly namespace: string;
  /** Names this store's writes in the changes `watch` reports. */
  readonly origin: string;
  /** The tables and channel, quoted (`"public"."celeriac_beat_entries"`). */
  readonly names: PgNames;
  readonly #db: PgDatabase;
  readonly #sql: PgStatements;
  readonly #feed: PgChangeFeed;
  readonly #lock: PgLeaderLock;
  readonly #maxEntries: number;
  readonly #maxPending: number;
  readonly #definitions = new DefinitionCache();
  #closed = false;

  constructor(options: PostgresScheduleStoreOptions) {
    const check = optionChecks('PostgresScheduleStore');
    check.strict(options, {
      url: t.nonEmptyString,
      namespace: t.nonEmptyString,
      schema: t.nonEmptyString,
      tablePrefix: t.nonEmptyString,
      maxEntries: t.positiveInteger,
      maxPending: t.positiveInteger,
      poolSize: t.range(1, 100, true),
      connectTimeoutMs: t.positiveInteger,
      origin: t.nonEmptyString,
    } satisfies { readonly [K in keyof Required<PostgresScheduleStoreOptions>]: OptionType });
    const url = options.url;
    if (typeof url !== 'string' || !/^postgres(ql)?:\/\//i.test(url) || !URL.canParse(url)) {
      throw check.invalid(
        'url',
        `must be a postgresql:// URL such as postgresql://user:password@localhost:5432/app, got ${JSON.stringify(url === undefined ? url : redactUrl(String(url)))}`,
      );
    }
    const namespace = options.namespace ?? 'default';
    if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(namespace)) {
      throw check.invalid(
        'namespace',
        `must be 1-100 characters of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(namespace)}`,
      );
    }
    const schema = options.schema ?? 'public';
    const tablePrefix = options.tablePrefix ?? 'celeriac_beat_';
    for (const [field, value] of [
      ['schema', schema],
      ['tablePrefix', tablePrefix],
    ] as const) {
      if (!IDENTIFIER.test(value))
        throw check.invalid(
          field,
          `must be 1-30 characters of a-z 0-9 _ (not starting with a digit), got ${JSON.stringify(value)}`,
        );
    }
    this.namespace = namespace;
    this.origin = options.origin ?? `${hostname()}:${process.pid}`;
    this.names = pgNames(schema, tablePrefix);
    this.#sql = statements(this.names);
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    this.#db = new PgDatabase({
      url,
      shownUrl: redactUrl(url),
      names: this.names,
      schema,
      tablePrefix,
      poolSize: options.poolSize ?? 4,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    });
    this.#lock = new PgLeaderLock(this.#db, this.#sql, namespace);
    this.#feed = new PgChangeFeed({
      open: () => this.#db.newClient('celeriac-beat-listen'),
      channel: this.names.channel,
      namespace,
      fail: (err) => this.#db.fail('watch', err),
      onError: (err) => {
        this.#db.lastError = err instanceof Error ? err : new Error(String(err));
      },
    });
  }

  #open(): void {
    if (this.#closed) throw new CeleriacError(ErrorCodes.CLOSED, 'this schedule store was closed');
  }

  async #query<R extends object>(what: string, sql: string, params: readonly unknown[]) {
    this.#open();
    return this.#db.query<R & Record<string, unknown>>(what, sql, params);
  }

  async #tx<T>(what: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
    this.#open();
    return this.#db.tx(what, fn);
  }

  /** NOTIFYs the changes, inside the caller's transaction (delivered when it commits). */
  async #notify(c: PoolClient, changes: readonly EntryChange[]): Promise<void> {
    if (changes.length === 0) return;
    const payloads = changes.map((ch) =>
      JSON.stringify({ ns: this.namespace, ...ch, origin: this.origin } satisfies ChangePayload),
    );
    await c.query(`SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, [
      this.names.channel,
      payloads,
    ]);
  }

  async #purgeTombstones(c: PoolClient, now: number): Promise<void> {
    await c.query(this.#sql.purgeTombstones, [this.namespace, now - TOMBSTONE_TTL_MS, PURGE_LIMIT]);
  }

  upsert(entries: readonly EntryWrite[], mode: UpsertMode, now: number): Promise<UpsertResult[]> {
    if (entries.length === 0) return Promise.resolve([]);
    return this.#tx('upsert', async (c) => {
      const ns = this.namespace;
      // Upserts of one namespace take turns, so the entry cap holds under concurrent writers.
      await c.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`${this.names.entries}|${ns}`]);
      await this.#purgeTombstones(c, now);
      const names = [...new Set(entries.map((e) => e.definition.name))];
      const rows = (await c.query<WriteRow>(this.#sql.entriesForWrite, [ns, names])).rows;
      const live = (await c.query<{ n: number }>(this.#sql.liveCount, [ns])).rows[0]?.n ?? 0;
      const plan = planUpsert(entries, mode, now, rows, live, this.#maxEntries);
      const cols = (ws: typeof plan.inserts) => [
        ws.map((w) => w.name),
        ws.map((w) => JSON.stringify(w.write.definition)),
        ws.map((w) => w.write.hash),
        ws.map((w) => w.write.enabled),
        ws.map((w) => w.write.source),
        ws.map((w) => w.write.nextRunAt),
        ws.map((w) => w.write.dueAt),
        ws.map((w) => w.revision),
      ];
      if (plan.inserts.length > 0)
        await c.query(this.#sql.insert, [
          ns,
          ...cols(plan.inserts),
          plan.inserts.map((w) => w.claimedUntil),
        ]);
      if (plan.updates.length > 0) await c.query(this.#sql.update, [ns, ...cols(plan.updates)]);
      await this.#notify(c, plan.changes);
      for (const n of names) this.#definitions.forget(n);
      return plan.results;
    });
  }

  remove(name: string, now: number): Promise<boolean> {
    return this.#tx('remove', async (c) => {
      await this.#purgeTombstones(c, now);
      const removed =
        ((await c.query(this.#sql.remove, [this.namespace, name, now])).rowCount ?? 0) === 1;
      if (removed) await this.#notify(c, [{ kind: 'removed', name }]);
      this.#definitions.forget(name);
      return removed;
    });
  }

  /** Removes every entry of the namespace (their high-water marks are kept, as `remove` keeps them). */
  removeAll(now: number): Promise<number> {
    return this.#tx('removeAll', async (c) => {
      await this.#purgeTombstones(c, now);
      const n = (await c.query(this.#sql.removeAll, [this.namespace, now])).rowCount ?? 0;
      if (n > 0) await this.#notify(c, [{ kind: 'cleared' }]);
      return n;
    });
  }

  setEnabled(
    name: string,
    enabled: boolean,
    next: NextRun | undefined,
    _now: number,
  ): Promise<boolean> {
    return this.#tx('setEnabled', async (c) => {
      const ns = this.namespace;
      const r = next
        ? await c.query(this.#sql.setEnabledNext, [ns, name, enabled, next.nextRunAt, next.dueAt])
        : await c.query(this.#sql.setEnabled, [ns, name, enabled]);
      const changed = (r.rowCount ?? 0) === 1;
      if (changed) await this.#notify(c, [{ kind: enabled ? 'resumed' : 'paused', name }]);
      return changed;
    });
  }

  #entry(r: EntryRow): StoredEntry {
    return {
      definition: this.#definitions.definition(r.name, r.definition),
      state: {
        enabled: r.enabled,
        source: r.source === 'config' ? 'config' : 'api',
        nextRunAt: r.next_run_at,
        lastRunAt: r.last_run_at,
        lastDispatchedAt: r.last_dispatched_at,
        totalRunCount: r.total_run_count,
        revision: r.revision,
        recentRuns: r.recent_runs,
      },
    };
  }

  async get(name: string): Promise<StoredEntry | undefined> {
    const r = await this.#query<EntryRow>('get', this.#sql.get, [this.namespace, name]);
    const row = r.rows[0];
    return row === undefined ? undefined : this.#entry(row);
  }

  async list(): Promise<StoredEntry[]> {
    const r = await this.#query<EntryRow>('list', this.#sql.list, [this.namespace]);
    return r.rows
      .map((row) => this.#entry(row))
      .sort((a, b) => a.definition.name.localeCompare(b.definition.name));
  }

  async due(now: number, limit: number): Promise<StoredEntry[]> {
    const r = await this.#query<EntryRow>('due', this.#sql.due, [this.namespace, now, limit]);
    return r.rows.map((row) => this.#entry(row));
  }

  async nextDueAt(): Promise<number | undefined> {
    const r = await this.#query<{ t: number | null }>('nextDueAt', this.#sql.nextDueAt, [
      this.namespace,
    ]);
    return r.rows[0]?.t ?? undefined;
  }

  claim(lease: Lease, claims: readonly TickClaim[], now: number): Promise<ClaimResult[]> {
    if (claims.length === 0) return Promise.resolve([]);
    return this.#tx('claim', async (c) => {
      const ns = this.namespace;
      const held = await c.query(this.#sql.lockForClaim, [ns, lease.token]);
      if (held.rows.length === 0)
        return claims.map((cl) => ({ name: cl.name, status: 'fenced' as const }));
      const names = [...new Set(claims.map((cl) => cl.name))];
      const rows = (await c.query<ClaimRow>(this.#sql.entriesForWrite, [ns, names])).rows;
      const plan = planClaims(claims, rows);
      const a = plan.advances;
      if (a.length > 0) {
        await c.query(this.#sql.advance, [
          ns,
          a.map((x) => x.name),
          a.map((x) => x.nextRunAt),
          a.map((x) => x.dueAt),
          a.map((x) => x.claimedUntil),
          a.map((x) => x.added),
          a.map((x) => x.lastRunAt),
          a.map((x) => `{${x.recentRuns.join(',')}}`),
          now,
        ]);
      }
      if (plan.pending.length > 0) {
        await c.query(this.#sql.addPending, [
          ns,
          plan.pending.map((p) => p.name),
          plan.pending.map((p) => p.scheduledAt),
          now,
        ]);
        await c.query(this.#sql.expirePending, [ns, now - PENDING_TTL_MS]);
        await c.query(this.#sql.trimPending, [ns, this.#maxPending]);
      }
      return plan.results;
    });
  }

  async settle(runs: readonly RunRef[]): Promise<void> {
    if (runs.length === 0) return;
    await this.#query('settle', this.#sql.settle, [
      this.namespace,
      runs.map((r) => r.name),
      runs.map((r) => r.scheduledAt),
    ]);
  }

  async pending(claimedBefore: number, limit: number): Promise<PendingRun[]> {
    const r = await this.#query<{ name: string; scheduled_at: number; claimed_at: number }>(
      'pending',
      this.#sql.pending,
      [this.namespace, claimedBefore, limit],
    );
    return r.rows.map((p) => ({
      name: p.name,
      scheduledAt: p.scheduled_at,
      claimedAt: p.claimed_at,
    }));
  }

  /** Takes or extends the lock on the database's clock (`now` is not used). */
  acquireLeadership(owner: string, ttlMs: number, _now: number): Promise<LeadershipResult> {
    return this.#locked(() => this.#lock.acquire(owner, ttlMs));
  }

  renewLeadership(lease: Lease, ttlMs: number, _now: number): Promise<boolean> {
    return this.#locked(() => this.#lock.renew(lease, ttlMs));
  }

  releaseLeadership(lease: Lease): Promise<void> {
    return this.#locked(() => this.#lock.release(lease));
  }

  /** The holder on the database's clock (`now` is not used). */
  leader(_now: number): Promise<{ owner: string; fence: number; ttlMs: number } | undefined> {
    return this.#locked(() => this.#lock.holder());
  }

  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    this.#open();
    return fn();
  }

  /**
   * Reports every change to this namespace's entries, by any process, through LISTEN on a
   * connection of its own (reopened with backoff if it drops; see `PgChangeFeed`).
   */
  async watch(listener: (change: EntryChange) => void): Promise<{ close(): Promise<void> }> {
    this.#open();
    return this.#feed.add(listener);
  }

  /** Closes the pool and the LISTEN connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#feed.close();
    await this.#db.close();
  }
}
