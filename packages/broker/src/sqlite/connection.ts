import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { CeleriacError, ErrorCodes, type ErrorCode } from '@celeriac/core';

/**
 * The one place Celeriac opens SQLite: the broker, the result backend, the coordination store
 * and beat's schedule store all come through here, so every connection has the same pragmas
 * and every process on the host sees the others' commits the same way.
 */
export type SqliteDatabase = BetterSqlite3.Database;

/** What a `sqlite://` URL names. */
export interface SqliteLocation {
  /** Absolute path of the database file. */
  readonly file: string;
  /** The URL as given, for messages (a file path holds no secret). */
  readonly url: string;
}

/**
 * `sqlite://./celeriac.db` (relative to the working directory), `sqlite:///var/lib/app.db`
 * (absolute) or `sqlite://celeriac.db`. Query strings are not accepted: options go in the
 * options object, where they are checked.
 */
export function parseSqliteUrl(url: string, cwd: string = process.cwd()): SqliteLocation {
  const m = /^sqlite:\/\/(.*)$/i.exec(url);
  const rest = m?.[1];
  if (rest === undefined || rest === '' || rest.includes('?') || rest === ':memory:') {
    throw new CeleriacError(
      ErrorCodes.UNSUPPORTED_URL,
      `SQLite URL "${url}": name a database file, as sqlite://./celeriac.db (relative) or sqlite:///var/lib/celeriac.db (absolute); options go in the options object, and :memory: cannot be shared between processes (use memory:// for one process)`,
      { details: { url } },
    );
  }
  return { file: resolve(cwd, decodeURIComponent(rest)), url };
}

export interface OpenSqliteOptions {
  /**
   * How long a statement waits for another process's write lock before failing with
   * SQLITE_BUSY, in milliseconds.
   * @default 5000
   */
  busyTimeoutMs?: number;
  /**
   * The code of the error thrown when the file cannot be opened: a result backend reports
   * `CELERIAC_ERR_BACKEND_UNAVAILABLE`, not the broker's code.
   * @default 'CELERIAC_ERR_BROKER_UNAVAILABLE'
   */
  errorCode?: ErrorCode;
}

/** better-sqlite3's own error, translated for the caller: which file, and how to fix it. */
export function sqliteError(
  location: SqliteLocation,
  what: string,
  err: unknown,
  code: ErrorCode = ErrorCodes.BROKER_UNAVAILABLE,
): CeleriacError {
  const text = err instanceof Error ? err.message : String(err);
  const sqliteCode = (err as { code?: unknown } | null)?.code;
  return new CeleriacError(
    code,
    `SQLite database ${location.file}: ${what} failed: ${text}${sqliteCode === 'SQLITE_BUSY' ? ' (another process held the write lock longer than busyTimeoutMs)' : ''}`,
    {
      cause: err,
      details: {
        file: location.file,
        sqliteCode: typeof sqliteCode === 'string' ? sqliteCode : null,
      },
    },
  );
}

const require = createRequire(import.meta.url);

/**
 * Opens (creating it and its folder when missing) the database a URL names, in WAL mode so
 * readers in other processes never block the writer, with `synchronous=NORMAL` (a commit is
 * durable across a process crash; a power loss may lose the last commits, never corrupt the
 * file). Throws `CELERIAC_ERR_MISSING_DRIVER` when better-sqlite3 is not installed.
 */
export function openSqlite(
  url: string,
  options: OpenSqliteOptions = {},
): { db: SqliteDatabase; location: SqliteLocation } {
  const location = parseSqliteUrl(url);
  let Database: typeof BetterSqlite3;
  try {
    Database = require('better-sqlite3') as typeof BetterSqlite3;
  } catch (err) {
    throw new CeleriacError(
      ErrorCodes.MISSING_DRIVER,
      `SQLite URL "${url}" needs the better-sqlite3 package (version 12 on Node 20): npm install better-sqlite3@12`,
      { cause: err, details: { driver: 'better-sqlite3' } },
    );
  }
  let db: SqliteDatabase;
  try {
    mkdirSync(dirname(location.file), { recursive: true });
    db = new Database(location.file, { timeout: options.busyTimeoutMs ?? 5000 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  } catch (err) {
    throw sqliteError(location, 'opening', err, options.errorCode);
  }
  return { db, location };
}

/** What {@link openSqliteWith} opens: the connection, and what `setUp` made on it. */
export interface OpenedSqlite<T> {
  readonly db: SqliteDatabase;
  readonly location: SqliteLocation;
  readonly prepared: T;
}

/**
 * Opens the database a URL names and sets up one component's tables and statements on it
 * (`setUp`, which runs once on the new connection). When that fails the connection is closed
 * again, and the error names the file and `what` was being done. Every Celeriac component on
 * SQLite (broker, result backend, coordination, beat's schedule store) opens this way.
 */
export function openSqliteWith<T>(
  url: string,
  options: OpenSqliteOptions & { readonly what: string },
  setUp: (db: SqliteDatabase) => T,
): OpenedSqlite<T> {
  const { db, location } = openSqlite(url, options);
  try {
    return { db, location, prepared: setUp(db) };
  } catch (err) {
    db.close();
    throw sqliteError(location, options.what, err, options.errorCode);
  }
}

/**
 * Runs `schema` in a write transaction unless every one of `tables` already exists: only the
 * first process to open the file takes the write lock to create them, the others only read.
 */
export function createTablesOnce(
  db: SqliteDatabase,
  tables: readonly string[],
  schema: string,
): void {
  const present = db
    .prepare(
      `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (${tables.map(() => '?').join(', ')})`,
    )
    .pluck()
    .get(...tables) as number;
  if (present < tables.length) db.transaction(() => db.exec(schema)).immediate();
}

/** Prepares each statement of `sql` under its own key. */
export function prepareStatements<K extends string>(
  db: SqliteDatabase,
  sql: Readonly<Record<K, string>>,
): { readonly [P in K]: BetterSqlite3.Statement<unknown[]> } {
  const prepared = {} as Record<K, BetterSqlite3.Statement<unknown[]>>;
  for (const key of Object.keys(sql) as K[]) prepared[key] = db.prepare(sql[key]);
  return prepared;
}

const FOLLOW_UP_FIRST_MS = 5;
const FOLLOW_UP_LAST_MS = 625;

export interface SqliteChangeFeedOptions {
  /**
   * How often to check for other processes' commits when the file watcher says nothing
   * (a safety net: inotify reports WAL writes at once), in milliseconds.
   * @default 250
   */
  pollIntervalMs?: number;
}

/**
 * Tells listeners when another connection (any process) committed to the database: the
 * database's `-wal` file changes at each commit, which the OS reports through `fs.watch`, and
 * `PRAGMA data_version` (a cheap read of shared memory) confirms a commit happened. A poll at
 * `pollIntervalMs` covers file systems that do not report changes. Commits made on this
 * connection do not change its `data_version`: whoever writes calls {@link notify} itself.
 */
export class SqliteChangeFeed {
  readonly #db: SqliteDatabase;
  readonly #listeners = new Set<() => void>();
  readonly #pollIntervalMs: number;
  readonly #file: string;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #version = -1;
  #scheduled = false;
  #followUp: NodeJS.Timeout | undefined;

  constructor(db: SqliteDatabase, location: SqliteLocation, options: SqliteChangeFeedOptions = {}) {
    this.#db = db;
    this.#file = location.file;
    this.#pollIntervalMs = options.pollIntervalMs ?? 250;
  }

  /** Calls `listener` after each commit seen; returns the function that stops it. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#start();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stop();
    };
  }

  /** Wakes listeners on the next turn (several calls in one turn wake them once). */
  notify(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      for (const l of [...this.#listeners]) l();
    });
  }

  close(): void {
    this.#listeners.clear();
    this.#stop();
  }

  /** Returns true when a commit was seen. */
  #check = (): boolean => {
    if (!this.#db.open) return false;
    let version: number;
    try {
      version = this.#db.pragma('data_version', { simple: true }) as number;
    } catch {
      return false;
    }
    if (version === this.#version) return false;
    this.#version = version;
    this.notify();
    return true;
  };

  /**
   * A writer appends its frames to the WAL (which the watcher reports) and only then publishes
   * the commit in the shared-memory index (which no watcher sees): a check made on the file
   * event can come too early. So an event that showed no commit is checked again a few times,
   * 5 ms to 0.6 s later.
   */
  #onFileEvent(): void {
    if (this.#check()) return;
    if (this.#followUp !== undefined) clearTimeout(this.#followUp);
    const again = (delay: number): void => {
      this.#followUp = setTimeout(() => {
        this.#followUp = undefined;
        if (!this.#check() && delay < FOLLOW_UP_LAST_MS) again(delay * 5);
      }, delay);
      this.#followUp.unref();
    };
    again(FOLLOW_UP_FIRST_MS);
  }

  #start(): void {
    this.#version = this.#db.pragma('data_version', { simple: true }) as number;
    const base = basename(this.#file);
    try {
      this.#watcher = watch(dirname(this.#file), { persistent: false }, (_event, name) => {
        if (name === null || name.startsWith(base)) this.#onFileEvent();
      });
      this.#watcher.on('error', () => this.#watcher?.close());
    } catch {
      this.#watcher = undefined;
    }
    this.#timer = setInterval(() => void this.#check(), this.#pollIntervalMs);
    this.#timer.unref();
  }

  #stop(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#followUp !== undefined) clearTimeout(this.#followUp);
    this.#followUp = undefined;
  }
}
