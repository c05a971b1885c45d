import type { SqliteDatabase } from '@celeriac/broker/sqlite/internal';

/**
 * Every table and statement of beat's SQLite schedule store, in one place (as the Redis keys
 * are in `redis/keys.ts`). The tables share the database file with the SQLite broker and
 * result backend, so their names start with `celeriac_beat`; every row carries its namespace.
 *
 * | table | what | bounded by |
 * | --- | --- | --- |
 * | `celeriac_beat_entries` | definition (JSON) and state of each entry; a removed entry stays as a tombstone (`removed_at`) holding its high-water mark (`claimed_until`) | `maxEntries` live rows; tombstones are deleted a day after removal |
 * | `celeriac_beat_lock` | one row per namespace: the leader lock (`token` = `<fence>:<owner>`, `expires_at`) and the fencing counter, kept when the lock is released | one row |
 * | `celeriac_beat_pending` | claimed runs not yet published | `maxPending`; rows older than a day are dropped |
 *
 * Times are epoch milliseconds on the callers' clock: every process on one host shares it.
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS celeriac_beat_entries (
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  definition TEXT NOT NULL,
  hash TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  source TEXT NOT NULL,
  next_run_at INTEGER,
  due_at INTEGER,
  last_run_at INTEGER,
  last_dispatched_at INTEGER,
  total_run_count INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  claimed_until INTEGER,
  removed_at INTEGER,
  recent_runs TEXT,
  PRIMARY KEY (namespace, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS celeriac_beat_entries_due ON celeriac_beat_entries (namespace, due_at)
  WHERE removed_at IS NULL AND enabled = 1 AND due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS celeriac_beat_entries_removed ON celeriac_beat_entries (namespace, removed_at)
  WHERE removed_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS celeriac_beat_lock (
  namespace TEXT NOT NULL PRIMARY KEY,
  fence INTEGER NOT NULL,
  token TEXT,
  owner TEXT,
  expires_at INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS celeriac_beat_pending (
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  scheduled_at INTEGER NOT NULL,
  claimed_at INTEGER NOT NULL,
  PRIMARY KEY (namespace, name, scheduled_at)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS celeriac_beat_pending_by_claim ON celeriac_beat_pending (namespace, claimed_at);
`;

/**
 * Columns added after the first release, with their definitions: a file made by an older
 * version gets them when a newer one opens it (`ALTER TABLE ... ADD COLUMN`).
 */
export const ADDED_COLUMNS = {
  celeriac_beat_entries: { recent_runs: 'TEXT' },
} as const;

/** Adds the columns of `added` that a table lacks, in one write transaction (checked again inside it). */
export function addMissingColumns(
  db: SqliteDatabase,
  added: Readonly<Record<string, Readonly<Record<string, string>>>>,
): void {
  const missing = (): [string, string, string][] =>
    Object.entries(added).flatMap(([table, columns]) => {
      const have = new Set(
        (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name),
      );
      return Object.entries(columns)
        .filter(([name]) => !have.has(name))
        .map(([name, type]): [string, string, string] => [table, name, type]);
    });
  if (missing().length === 0) return;
  db.transaction(() => {
    for (const [table, name, type] of missing())
      db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${type}`);
  }).immediate();
}

export const TABLES = [
  'celeriac_beat_entries',
  'celeriac_beat_lock',
  'celeriac_beat_pending',
] as const;

/** The columns an entry is read with, in this order (statements use `.raw()`). */
const ENTRY = `name, definition, enabled, source, next_run_at, last_run_at, last_dispatched_at, total_run_count, revision, due_at, recent_runs`;
/** What makes a row count in the due index (the partial index's WHERE, repeated so it is used). */
const DUE = `namespace = ? AND removed_at IS NULL AND enabled = 1 AND due_at IS NOT NULL`;

/** Statements with their parameters in order. */
export const SQL = {
  /** namespace, name → the row, tombstone or live. */
  entryForWrite: `SELECT revision, claimed_until, removed_at, hash, enabled, next_run_at, recent_runs FROM celeriac_beat_entries WHERE namespace = ? AND name = ?`,
  /** namespace → live entries. */
  liveCount: `SELECT count(*) FROM celeriac_beat_entries WHERE namespace = ? AND removed_at IS NULL`,
  /** Every column: a new entry, or one re-added over its tombstone. */
  insert: `INSERT OR REPLACE INTO celeriac_beat_entries
  (namespace, name, definition, hash, enabled, source, next_run_at, due_at, last_run_at,
   last_dispatched_at, total_run_count, revision, claimed_until, removed_at, recent_runs)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, ?, ?, NULL, NULL)`,
  /** definition, hash, enabled, source, next run, due at, namespace, name: a live entry's new definition. */
  update: `UPDATE celeriac_beat_entries SET definition = ?, hash = ?, enabled = ?, source = ?,
  next_run_at = ?, due_at = ?, revision = revision + 1
WHERE namespace = ? AND name = ?`,
  /** now, namespace, name. */
  remove: `UPDATE celeriac_beat_entries SET removed_at = ?, recent_runs = NULL, revision = revision + 1
WHERE namespace = ? AND name = ? AND removed_at IS NULL`,
  /** namespace, namespace, removed before, most rows. */
  purgeTombstones: `DELETE FROM celeriac_beat_entries WHERE namespace = ? AND name IN
  (SELECT name FROM celeriac_beat_entries WHERE namespace = ? AND removed_at IS NOT NULL AND removed_at < ? LIMIT ?)`,
  /** enabled, namespace, name. */
  setEnabled: `UPDATE celeriac_beat_entries SET enabled = ?, revision = revision + 1
WHERE namespace = ? AND name = ? AND removed_at IS NULL`,
  /** enabled, next run, due at, namespace, name. */
  setEnabledNext: `UPDATE celeriac_beat_entries SET enabled = ?, next_run_at = ?, due_at = ?, revision = revision + 1
WHERE namespace = ? AND name = ? AND removed_at IS NULL`,
  /** namespace, name. */
  get: `SELECT ${ENTRY} FROM celeriac_beat_entries WHERE namespace = ? AND name = ? AND removed_at IS NULL`,
  /** namespace. */
  list: `SELECT ${ENTRY} FROM celeriac_beat_entries WHERE namespace = ? AND removed_at IS NULL`,
  /** namespace, now, limit. */
  due: `SELECT ${ENTRY} FROM celeriac_beat_entries WHERE ${DUE} AND due_at <= ? ORDER BY due_at LIMIT ?`,
  /** namespace. */
  nextDueAt: `SELECT min(due_at) FROM celeriac_beat_entries WHERE ${DUE}`,
  /** claimed until, last run, last dispatched, runs, next run, due at, recent runs, namespace, name. */
  claimRuns: `UPDATE celeriac_beat_entries SET claimed_until = ?, last_run_at = ?, last_dispatched_at = ?,
  total_run_count = total_run_count + ?, next_run_at = ?, due_at = ?, recent_runs = ?
WHERE namespace = ? AND name = ?`,
  /** next run, due at, namespace, name. */
  advance: `UPDATE celeriac_beat_entries SET next_run_at = ?, due_at = ? WHERE namespace = ? AND name = ?`,
  /** namespace, name, scheduled at, claimed at. */
  addPending: `INSERT OR REPLACE INTO celeriac_beat_pending (namespace, name, scheduled_at, claimed_at) VALUES (?, ?, ?, ?)`,
  /** namespace. */
  pendingCount: `SELECT count(*) FROM celeriac_beat_pending WHERE namespace = ?`,
  /** namespace, namespace, how many: drops the oldest. */
  trimPending: `DELETE FROM celeriac_beat_pending WHERE namespace = ? AND (name, scheduled_at) IN
  (SELECT name, scheduled_at FROM celeriac_beat_pending WHERE namespace = ? ORDER BY claimed_at LIMIT ?)`,
  /** namespace, claimed before. */
  expirePending: `DELETE FROM celeriac_beat_pending WHERE namespace = ? AND claimed_at < ?`,
  /** namespace, name, scheduled at. */
  settle: `DELETE FROM celeriac_beat_pending WHERE namespace = ? AND name = ? AND scheduled_at = ?`,
  /** namespace, claimed before, limit. */
  pending: `SELECT name, scheduled_at, claimed_at FROM celeriac_beat_pending
WHERE namespace = ? AND claimed_at < ? ORDER BY claimed_at LIMIT ?`,
  /** namespace → fence, token, owner, expires at. */
  lock: `SELECT fence, token, owner, expires_at FROM celeriac_beat_lock WHERE namespace = ?`,
  /** namespace, fence, token, owner, expires at. */
  takeLock: `INSERT INTO celeriac_beat_lock (namespace, fence, token, owner, expires_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (namespace) DO UPDATE SET fence = excluded.fence, token = excluded.token,
  owner = excluded.owner, expires_at = excluded.expires_at`,
  /** expires at, namespace, token, now: extends a lock still held. */
  renew: `UPDATE celeriac_beat_lock SET expires_at = ? WHERE namespace = ? AND token = ? AND expires_at > ?`,
  /** namespace, token. */
  release: `UPDATE celeriac_beat_lock SET token = NULL, owner = NULL, expires_at = NULL WHERE namespace = ? AND token = ?`,
} as const;
