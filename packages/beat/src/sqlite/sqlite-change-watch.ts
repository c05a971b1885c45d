import {
  SqliteChangeFeed,
  type SqliteDatabase,
  type SqliteLocation,
} from '@celeriac/broker/sqlite/internal';
import type BetterSqlite3 from 'better-sqlite3';
import { ChangeListeners } from '../store/change-listeners.js';
import type { EntryChange, EntryChangeKind, StoreWatch } from '../store/schedule-store.js';

/** Sequence numbers of changes kept: a watcher further behind than this reads the store again. */
export const CHANGES_KEPT = 1000;

/** The statements the watch uses (from `SQL` in schema.ts). */
export interface ChangeStatements {
  readonly addChange: BetterSqlite3.Statement<unknown[]>;
  readonly trimChanges: BetterSqlite3.Statement<unknown[]>;
  readonly lastChange: BetterSqlite3.Statement<unknown[]>;
  readonly changesSince: BetterSqlite3.Statement<unknown[]>;
}

/**
 * Records a change in `celeriac_beat_changes`, inside the writing transaction, and trims the
 * table to the last {@link CHANGES_KEPT} sequence numbers.
 */
export function recordChange(
  sql: ChangeStatements,
  namespace: string,
  kind: EntryChangeKind,
  name: string | null,
  origin: string,
): void {
  const seq = Number(sql.addChange.run(namespace, kind, name, origin).lastInsertRowid);
  if (seq > CHANGES_KEPT) sql.trimChanges.run(seq - CHANGES_KEPT);
}

/**
 * The `watch` side of the SQLite store. Another process's commit is seen through the
 * broker's `SqliteChangeFeed` (the OS's file events on the WAL, confirmed by `PRAGMA
 * data_version`, with a poll every `pollIntervalMs` as the fallback); then the rows of
 * `celeriac_beat_changes` after the last one seen say what changed. This connection's own
 * commits do not move its `data_version`, so the store calls {@link notify} after each.
 */
export class SqliteChangeWatch {
  readonly #db: SqliteDatabase;
  readonly #location: SqliteLocation;
  readonly #namespace: string;
  readonly #sql: ChangeStatements;
  readonly #pollIntervalMs: number;
  readonly #listeners = new ChangeListeners(() => this.#stop());
  #feed: SqliteChangeFeed | undefined;
  #unsubscribe: (() => void) | undefined;
  #lastSeq = 0;

  constructor(
    db: SqliteDatabase,
    location: SqliteLocation,
    namespace: string,
    sql: ChangeStatements,
    pollIntervalMs: number,
  ) {
    this.#db = db;
    this.#location = location;
    this.#namespace = namespace;
    this.#sql = sql;
    this.#pollIntervalMs = pollIntervalMs;
  }

  watch(listener: (change: EntryChange) => void): StoreWatch {
    const handle = this.#listeners.add(listener);
    if (!this.#feed) {
      this.#lastSeq = this.#sql.lastChange.get() as number;
      this.#feed = new SqliteChangeFeed(this.#db, this.#location, {
        pollIntervalMs: this.#pollIntervalMs,
      });
      this.#unsubscribe = this.#feed.subscribe(this.#read);
    }
    return handle;
  }

  /** This connection committed a change: read it (on the next turn, once per turn). */
  notify(): void {
    this.#feed?.notify();
  }

  readonly #read = (): void => {
    if (!this.#db.open || this.#listeners.size === 0) return;
    let last: number;
    let rows: [number, string, string | null, string][];
    try {
      last = this.#sql.lastChange.get() as number;
      if (last === this.#lastSeq) return; // a commit of the broker or the backend, not ours
      if (last - this.#lastSeq > CHANGES_KEPT) {
        // Rows this watcher never read were trimmed: it cannot say what changed.
        this.#lastSeq = last;
        this.#listeners.emit({ kind: 'modified' });
        return;
      }
      rows = this.#sql.changesSince.all(
        this.#namespace,
        this.#lastSeq,
        CHANGES_KEPT,
      ) as typeof rows;
    } catch {
      return; // the file is busy or closing; the next commit or poll reads again
    }
    // A commit of another process between the two reads is in `rows` already: start after it,
    // or the next read would tell it again.
    this.#lastSeq = Math.max(last, rows.at(-1)?.[0] ?? 0);
    for (const [, kind, name, origin] of rows) {
      this.#listeners.emit({
        kind: kind as EntryChangeKind,
        ...(name === null ? {} : { name }),
        origin,
      });
    }
  };

  #stop(): void {
    this.#unsubscribe?.();
    this.#feed?.close();
    this.#feed = undefined;
    this.#unsubscribe = undefined;
  }

  close(): void {
    this.#listeners.clear();
    this.#stop();
  }
}
