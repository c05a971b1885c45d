import {
  CeleriacError,
  ErrorCodes,
  type Clock,
  type Delivery,
  type Logger,
  type ResultBackend,
  type ResultDocument,
  type StoreOptions,
  type WaitOptions,
} from '@celeriac/core';
import {
  createTablesOnce,
  isSqliteFusedAck,
  openSqliteWith,
  sqliteError,
  type SqliteDatabase,
  type SqliteLocation,
} from '@celeriac/broker/sqlite/internal';
import type BetterSqlite3 from 'better-sqlite3';
import { compileSqliteResultBackendOptions, type SqliteResultBackendOptions } from './options.js';
import { decodeResult, encodeResult } from './result-json.js';
import { ResultWaiters, type WaiterStatements } from './result-waiters.js';
import { SCHEMA, SQL } from './schema.js';

/** Expired documents are swept at most this often, with a store (no timer of its own). */
const SWEEP_INTERVAL_MS = 60_000;

type LifecycleState = 'open' | 'closed';

interface PendingStore {
  readonly taskId: string;
  readonly status: string;
  readonly payload: string;
  readonly expiresMs: number;
  readonly ack: Delivery | undefined;
  /** Rows written: 1, or 0 when a live SUCCESS was kept. */
  changes: number;
  resolve: (this: void) => void;
  reject: (this: void, err: unknown) => void;
}

interface Statements extends WaiterStatements {
  readonly takeSeq: BetterSqlite3.Statement<[number], number>;
  readonly store: BetterSqlite3.Statement<[string, string, string, number, number, number]>;
  readonly get: BetterSqlite3.Statement<[string, number], string>;
  readonly forget: BetterSqlite3.Statement<[string]>;
  readonly sweep: BetterSqlite3.Statement<[number, number]>;
}

const noop = (): void => undefined;

/** Rejections carry Errors; an AbortSignal's reason may be anything. */
function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value), { cause: value });
}

/**
 * A `ResultBackend` in a SQLite file: the embedded default, shared by every process on the
 * host that opens the same `sqlite://` file (a worker storing, `celeriac call --wait` and app
 * code waiting), with no server.
 *
 * A task's row holds the JSON document the Redis backend keeps at `celery-task-meta-<id>`, its
 * status and its expiry time. A stored SUCCESS is never overwritten: the check is part of the
 * write statement. Stores made in one turn of the event loop share one transaction.
 * `waitFor` is push: one change feed per backend (a file watch, with a slow poll as a safety
 * net) wakes it when another process commits, and it then reads only the rows written since
 * it last looked. Expired documents read as absent at once and are deleted by a bounded sweep
 * that rides on stores.
 *
 * @example
 * ```ts
 * import { SqliteResultBackend } from '@celeriac/result-backend/sqlite';
 * const backend = new SqliteResultBackend({ url: 'sqlite://./celeriac.db' });
 * const doc = await backend.waitFor(taskId, { timeoutMs: 10_000 });
 * await backend.close();
 * ```
 */
export class SqliteResultBackend implements ResultBackend {
  readonly kind = 'sqlite' as const;
  /** The URL as given. */
  readonly url: string;
  /** The database file's absolute path. */
  readonly file: string;

  readonly #db: SqliteDatabase;
  readonly #location: SqliteLocation;
  readonly #sql: Statements;
  readonly #writeBatch: BetterSqlite3.Transaction<(batch: PendingStore[], now: number) => number>;
  readonly #expiresMs: number;
  readonly #sweepLimit: number;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #waiters: ResultWaiters;
  /** The store statements prepared on other connections to this file (see `#storeOn`). */
  readonly #foreign = new WeakMap<SqliteDatabase, Pick<Statements, 'takeSeq' | 'store'>>();
  #pending: PendingStore[] = [];
  #flushScheduled = false;
  #lastSweep = Number.NEGATIVE_INFINITY;
  #state: LifecycleState = 'open';

  constructor(options: SqliteResultBackendOptions) {
    const o = compileSqliteResultBackendOptions(options);
    this.url = o.url;
    this.#expiresMs = o.resultExpiresMs;
    this.#sweepLimit = o.sweepLimit;
    this.#logger = o.logger;
    this.#clock = o.clock;
    const opened = openSqliteWith(
      o.url,
      {
        busyTimeoutMs: o.busyTimeoutMs,
        what: 'creating the result tables',
        errorCode: ErrorCodes.BACKEND_UNAVAILABLE,
      },
      (db): Statements => {
        createTablesOnce(db, ['celeriac_results', 'celeriac_result_seq'], SCHEMA);
        return {
          takeSeq: db.prepare<[number], number>(SQL.takeSeq).pluck(),
          currentSeq: db.prepare<[], number>(SQL.currentSeq).pluck(),
          store: db.prepare(SQL.store),
          get: db.prepare<[string, number], string>(SQL.get).pluck(),
          getMany: db.prepare<[string, number], [string, string]>(SQL.getMany).raw(),
          changes: db
            .prepare<[number, number, number], [number, string, number]>(SQL.changes)
            .raw(),
          forget: db.prepare(SQL.forget),
          sweep: db.prepare(SQL.sweep),
        };
      },
    );
    const db = opened.db;
    this.#db = db;
    this.#location = opened.location;
    this.file = opened.location.file;
    this.#sql = opened.prepared;
    this.#waiters = new ResultWaiters({
      db,
      location: opened.location,
      sql: this.#sql,
      pollIntervalMs: o.pollIntervalMs,
      logger: o.logger,
      now: () => this.#clock.now(),
      decode: (text, taskId) => this.#decode(text, taskId),
      toError: (err, operation) => this.#toError(err, operation),
    });
    const sql = this.#sql;
    this.#writeBatch = db.transaction((batch: PendingStore[], now: number): number => {
      let seq = (sql.takeSeq.get(batch.length) ?? batch.length) - batch.length;
      for (const p of batch) {
        p.changes = sql.store.run(
          p.taskId,
          p.status,
          p.payload,
          now + p.expiresMs,
          ++seq,
          now,
        ).changes;
      }
      if (now - this.#lastSweep < SWEEP_INTERVAL_MS) return 0;
      return sql.sweep.run(now, this.#sweepLimit).changes;
    });
  }

  /**
   * Stores a task's document unless a live SUCCESS is stored for it, then acks `ack`.
   *
   * When the delivery is the SQLite broker's on this same file (`Delivery.fusedAck`), the
   * store runs in the broker's own write transaction, with the ack and every other write of
   * the broker's turn: one commit for both, and both or neither. Otherwise, store, then ack:
   * a crash between the two redelivers the task, whose second result cannot replace a
   * SUCCESS.
   */
  store(doc: ResultDocument, options: StoreOptions = {}): Promise<void> {
    let pending: PendingStore;
    try {
      this.#assertOpen('store');
      if (typeof doc !== 'object' || doc === null)
        throw this.#invalid('doc', 'must be a result document');
      if (typeof doc.task_id !== 'string' || doc.task_id === '') {
        throw this.#invalid('doc.task_id', 'must be a non-empty string');
      }
      if (typeof doc.status !== 'string' || doc.status === '') {
        throw this.#invalid('doc.status', 'must be a state name');
      }
      const { expiresMs } = options;
      if (
        expiresMs !== undefined &&
        !(typeof expiresMs === 'number' && Number.isFinite(expiresMs) && expiresMs > 0)
      ) {
        throw this.#invalid(
          'expiresMs',
          `must be a positive number of milliseconds, got ${String(expiresMs)}`,
        );
      }
      pending = {
        taskId: doc.task_id,
        status: doc.status,
        payload: this.#encode(doc),
        expiresMs: expiresMs === undefined ? this.#expiresMs : Math.ceil(expiresMs),
        ack: options.ack,
        changes: 0,
        resolve: noop,
        reject: noop,
      };
    } catch (err) {
      return Promise.reject(asError(err));
    }
    const fused = this.#storeWithAck(pending);
    if (fused !== undefined) {
      return fused.then(
        () => this.#stored(pending),
        (err: unknown) => {
          throw asError(this.#toError(err, 'store'));
        },
      );
    }
    return new Promise<void>((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
      this.#pending.push(pending);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        process.nextTick(this.#flush);
      }
    });
  }

  get(taskId: string): Promise<ResultDocument | null> {
    return this.#run('get', () => {
      this.#checkTaskId(taskId);
      const text = this.#sql.get.get(taskId, this.#clock.now());
      return text === undefined ? null : this.#decode(text, taskId);
    });
  }

  /** Reads many documents in one query, in the order of `taskIds`. */
  getMany(taskIds: readonly string[]): Promise<(ResultDocument | null)[]> {
    return this.#run('getMany', () => {
      if (taskIds.length === 0) return [];
      for (const id of taskIds) this.#checkTaskId(id);
      const found = new Map<string, string>();
      for (const [id, text] of this.#sql.getMany.all(JSON.stringify(taskIds), this.#clock.now())) {
        found.set(id, text);
      }
      return taskIds.map((id) => {
        const text = found.get(id);
        return text === undefined ? null : this.#decode(text, id);
      });
    });
  }

  /**
   * Resolves once the task is ready (SUCCESS, FAILURE, REVOKED): at once when it already is,
   * else when a commit (by any process) stores a ready state for it. Never a poll of the row.
   */
  waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultDocument> {
    const { timeoutMs } = options;
    try {
      this.#assertOpen('waitFor', taskId);
      this.#checkTaskId(taskId);
      if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
        throw this.#invalid(
          'timeoutMs',
          `must be a non-negative number of milliseconds, got ${timeoutMs}`,
        );
      }
    } catch (err) {
      return Promise.reject(asError(err));
    }
    return this.#waiters.wait(taskId, options, () => {
      const text = this.#sql.get.get(taskId, this.#clock.now());
      return text === undefined ? null : this.#decode(text, taskId);
    });
  }

  forget(taskId: string): Promise<void> {
    return this.#run('forget', () => {
      this.#checkTaskId(taskId);
      this.#sql.forget.run(taskId);
    });
  }

  /**
   * Writes stores already queued, rejects pending waits with `CELERIAC_ERR_CLOSED` and closes
   * the database connection. Idempotent.
   */
  close(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    if (this.#pending.length > 0) this.#flush();
    this.#state = 'closed';
    this.#waiters.close(
      () =>
        new CeleriacError(
          ErrorCodes.CLOSED,
          `the SQLite result backend (${this.file}) was closed while waiting`,
        ),
    );
    this.#db.close();
    return Promise.resolve();
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    if (this.#state !== 'open') {
      const err = new CeleriacError(
        ErrorCodes.CLOSED,
        `store on a closed SQLite result backend (${this.file})`,
      );
      for (const p of batch) p.reject(err);
      return;
    }
    const now = this.#clock.now();
    let swept: number;
    try {
      swept = this.#writeBatch.immediate(batch, now);
    } catch (err) {
      const e = this.#toError(err, 'store');
      for (const p of batch) p.reject(e);
      return;
    }
    if (now - this.#lastSweep >= SWEEP_INTERVAL_MS) {
      // A full sweep may have left more behind: sweep again with the next store.
      this.#lastSweep = swept >= this.#sweepLimit ? Number.NEGATIVE_INFINITY : now;
      if (swept > 0) this.#logger.debug({ swept }, 'deleted expired results');
    }
    // This connection's own commits do not move its data_version: wake its waiters directly.
    this.#waiters.notify();
    for (const p of batch) {
      this.#stored(p);
      if (p.ack === undefined) p.resolve();
      else p.ack.ack().then(p.resolve, p.reject);
    }
  };

  #stored(p: PendingStore): void {
    if (p.changes !== 0) return;
    this.#logger.debug(
      { taskId: p.taskId, status: p.status },
      'kept the stored SUCCESS; a later state is not written over it',
    );
  }

  /** The store fused with the ack, when `p.ack` is the SQLite broker's on this file. */
  #storeWithAck(p: PendingStore): Promise<void> | undefined {
    const fused = p.ack?.fusedAck?.();
    if (fused === undefined || !isSqliteFusedAck(fused) || fused.target !== this.file) return;
    return fused.ackWithin((db) => this.#storeOn(db, p));
  }

  /**
   * The store of one document on another connection to this file (the broker's, inside its
   * transaction). Its statements are prepared once per connection. Commits there reach this
   * backend's waiters through the change feed, as another process's would.
   */
  #storeOn(db: SqliteDatabase, p: PendingStore): void {
    let st = this.#foreign.get(db);
    if (st === undefined) {
      st = {
        takeSeq: db.prepare<[number], number>(SQL.takeSeq).pluck(),
        store: db.prepare(SQL.store),
      };
      this.#foreign.set(db, st);
    }
    const now = this.#clock.now();
    const seq = st.takeSeq.get(1) ?? 0;
    p.changes = st.store.run(p.taskId, p.status, p.payload, now + p.expiresMs, seq, now).changes;
  }

  #encode(doc: ResultDocument): string {
    return encodeResult(doc);
  }

  #decode(text: string, taskId: string): ResultDocument {
    return decodeResult(text, taskId, this.file);
  }

  #run<T>(operation: string, fn: () => T): Promise<T> {
    try {
      this.#assertOpen(operation);
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(asError(this.#toError(err, operation)));
    }
  }

  #toError(err: unknown, operation: string): unknown {
    if (err instanceof CeleriacError) return err;
    return sqliteError(this.#location, operation, err, ErrorCodes.BACKEND_UNAVAILABLE);
  }

  #invalid(option: string, problem: string): CeleriacError {
    return new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `SqliteResultBackend: ${option} ${problem}`,
      {
        details: { option },
      },
    );
  }

  #checkTaskId(taskId: string): void {
    if (typeof taskId !== 'string' || taskId === '')
      throw this.#invalid('taskId', 'must be a non-empty string');
  }

  #assertOpen(operation: string, taskId?: string): void {
    if (this.#state === 'open') return;
    throw new CeleriacError(
      ErrorCodes.CLOSED,
      `${operation} on a closed SQLite result backend (${this.file})`,
      {
        details: taskId === undefined ? { operation } : { operation, taskId },
      },
    );
  }
}
