import { isReadyState, type Logger, type ResultDocument, type WaitOptions } from '@celeriac/core';
import { waitTimeoutError } from '@celeriac/core/internal';
import {
  SqliteChangeFeed,
  type SqliteDatabase,
  type SqliteLocation,
} from '@celeriac/broker/sqlite/internal';
import type BetterSqlite3 from 'better-sqlite3';

/** Rows read per query when catching up with other processes' commits. */
const CHANGES_PAGE = 1000;

const noop = (): void => undefined;

/** Rejections carry Errors; an AbortSignal's reason may be anything. */
function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value), { cause: value });
}

/** One `waitFor` call, as the registry wakes it. */
export interface Waiter {
  resolve(doc: ResultDocument): void;
  reject(err: unknown): void;
}

/** The statements the waiters read with. */
export interface WaiterStatements {
  readonly currentSeq: BetterSqlite3.Statement<[], number>;
  readonly getMany: BetterSqlite3.Statement<[string, number], [string, string]>;
  readonly changes: BetterSqlite3.Statement<[number, number, number], [number, string, number]>;
}

/** What the registry needs of its backend. */
export interface WaitersOptions {
  readonly db: SqliteDatabase;
  readonly location: SqliteLocation;
  readonly sql: WaiterStatements;
  readonly pollIntervalMs: number;
  readonly logger: Logger;
  readonly now: () => number;
  readonly decode: (text: string, taskId: string) => ResultDocument;
  readonly toError: (err: unknown, operation: string) => unknown;
}

/**
 * The tasks a SQLite result backend's callers wait for, and the change feed that wakes them:
 * the feed is subscribed while anything waits, and each commit (by any process) reads only
 * the rows written since the last look (`seq` above the cursor), then the documents of the
 * waited-for tasks among them, in one query.
 */
export class ResultWaiters {
  readonly #o: WaitersOptions;
  readonly #waiters = new Map<string, Set<Waiter>>();
  #feed: SqliteChangeFeed | undefined;
  #unsubscribe: (() => void) | undefined;
  /**
   * Holds the event loop open while anything waits: the change feed's watcher and poll do not
   * (they are unref'd), and a script awaiting `AsyncResult.get()` must not exit before its
   * result arrives, as it does not on Redis, whose subscriber socket holds it open.
   */
  #keepAlive: NodeJS.Timeout | undefined;
  /** The last `seq` the waiters have been matched against. */
  #cursor = 0;
  #closed = false;

  constructor(options: WaitersOptions) {
    this.#o = options;
  }

  /** True when someone waits. */
  get waiting(): boolean {
    return this.#waiters.size > 0;
  }

  /**
   * Resolves once the task is ready: at once when `read` (the current document) says so,
   * else when a commit stores a ready state for it; rejects on timeout or abort.
   */
  wait(
    taskId: string,
    { timeoutMs, signal }: WaitOptions,
    read: () => ResultDocument | null,
  ): Promise<ResultDocument> {
    return new Promise<ResultDocument>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(asError(signal.reason));
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const onAbort = (): void => waiter.reject(signal?.reason);
      // eslint-disable-next-line prefer-const -- finish() and onAbort() refer to it
      let waiter: Waiter;
      const finish = (): boolean => {
        if (done) return false;
        done = true;
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.remove(taskId, waiter);
        return true;
      };
      waiter = {
        resolve: (doc) => {
          if (finish()) resolve(doc);
        },
        reject: (err) => {
          if (finish()) reject(asError(err));
        },
      };
      // Listen first, then read: a commit after the read wakes the waiter, and one before it
      // is in what the read sees.
      let current: ResultDocument | null;
      try {
        this.add(taskId, waiter);
        current = read();
      } catch (err) {
        waiter.reject(this.#o.toError(err, 'waitFor'));
        return;
      }
      if (current !== null && isReadyState(current.status)) {
        waiter.resolve(current);
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          waiter.reject(waitTimeoutError(taskId, timeoutMs));
        }, timeoutMs);
      }
    });
  }

  add(taskId: string, waiter: Waiter): void {
    let set = this.#waiters.get(taskId);
    if (set === undefined) {
      set = new Set();
      this.#waiters.set(taskId, set);
    }
    set.add(waiter);
    if (this.#unsubscribe !== undefined) return;
    this.#feed ??= new SqliteChangeFeed(this.#o.db, this.#o.location, {
      pollIntervalMs: this.#o.pollIntervalMs,
    });
    this.#unsubscribe = this.#feed.subscribe(this.#onChange);
    this.#keepAlive = setInterval(noop, 2 ** 31 - 1);
    this.#cursor = this.#o.sql.currentSeq.get() ?? 0;
  }

  remove(taskId: string, waiter: Waiter): void {
    const set = this.#waiters.get(taskId);
    if (set === undefined) return;
    set.delete(waiter);
    if (set.size > 0) return;
    this.#waiters.delete(taskId);
    if (this.#waiters.size === 0 && this.#unsubscribe !== undefined) {
      this.#unsubscribe();
      this.#unsubscribe = undefined;
      clearInterval(this.#keepAlive);
      this.#keepAlive = undefined;
    }
  }

  /** This connection's own commits do not move its data_version: its writer calls this. */
  notify(): void {
    if (this.#waiters.size > 0) this.#feed?.notify();
  }

  /** Rejects every wait with `error` and stops the feed. */
  close(error: () => Error): void {
    this.#closed = true;
    for (const set of [...this.#waiters.values()]) for (const w of [...set]) w.reject(error());
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearInterval(this.#keepAlive);
    this.#feed?.close();
  }

  /**
   * Something was committed: find the waited-for tasks among what changed since the cursor,
   * then read just their documents, in one query.
   */
  readonly #onChange = (): void => {
    if (this.#closed || this.#waiters.size === 0) return;
    const { sql } = this.#o;
    const now = this.#o.now();
    const ready = new Set<string>();
    let cursor = this.#cursor;
    try {
      for (;;) {
        const rows = sql.changes.all(now, cursor, CHANGES_PAGE);
        for (const [seq, taskId, isReady] of rows) {
          cursor = seq;
          if (isReady === 1 && this.#waiters.has(taskId)) ready.add(taskId);
        }
        if (rows.length < CHANGES_PAGE) break;
      }
      if (ready.size > 0) {
        for (const [taskId, text] of sql.getMany.all(JSON.stringify([...ready]), now)) {
          this.#wake(taskId, text);
        }
      }
      this.#cursor = cursor;
    } catch (err) {
      // The cursor stays: the next commit (or the feed's poll) reads the same changes again.
      this.#o.logger.warn(
        { err: this.#o.toError(err, 'reading changes') },
        'could not read new results; will retry',
      );
    }
  };

  /** Resolves the waiters of a task whose document is ready (a later store may have replaced it). */
  #wake(taskId: string, text: string): void {
    const set = this.#waiters.get(taskId);
    if (set === undefined) return;
    let doc: ResultDocument;
    try {
      doc = this.#o.decode(text, taskId);
    } catch (err) {
      for (const w of [...set]) w.reject(err);
      return;
    }
    if (!isReadyState(doc.status)) return;
    let first = true;
    for (const w of [...set]) {
      // Each waiter gets its own copy, as from get().
      w.resolve(first ? doc : structuredClone(doc));
      first = false;
    }
  }
}
