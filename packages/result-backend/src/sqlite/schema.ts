/**
 * Every table and statement of the SQLite result backend, in one place (as the Redis key
 * names are in `redis/keys.ts`). The tables share the database file with the SQLite broker,
 * so their names start with `celeriac_result`.
 *
 * | table | what | bounded by |
 * | --- | --- | --- |
 * | `celeriac_results` | one row per task: Celery's result document (the JSON the Redis backend keeps at `celery-task-meta-<id>`), its status, when it expires, and `seq`, the commit order of its last write | expiry: read as absent once expired, deleted by a bounded sweep |
 * | `celeriac_result_seq` | one row: the last `seq` handed out | one row |
 *
 * `seq` lets a waiting process read only what changed since it last looked (`WHERE seq > ?`)
 * instead of re-reading every task it waits for at each commit. It comes from its own
 * counter, never from `max(seq)`, so forgetting the newest row cannot make a number repeat.
 */

/** `status` values after which a result no longer changes (Celery's READY_STATES). */
const READY = `('SUCCESS', 'FAILURE', 'REVOKED')`;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS celeriac_results (
  task_id TEXT NOT NULL PRIMARY KEY,
  status TEXT NOT NULL,
  document TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS celeriac_results_by_seq ON celeriac_results (seq);
CREATE INDEX IF NOT EXISTS celeriac_results_by_expiry ON celeriac_results (expires_at);
CREATE TABLE IF NOT EXISTS celeriac_result_seq (
  id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL
);
INSERT OR IGNORE INTO celeriac_result_seq (id, seq) VALUES (1, 0);
`;

export const SQL = {
  /** Params: how many seq numbers to take. Returns the last one taken. */
  takeSeq: `UPDATE celeriac_result_seq SET seq = seq + ? WHERE id = 1 RETURNING seq`,
  /** The last seq handed out. */
  currentSeq: `SELECT seq FROM celeriac_result_seq WHERE id = 1`,
  /**
   * Params: task id, status, document, expires at, seq, now. Writes the document
   * unless a live SUCCESS is stored (changes = 0 then): the check and the write are one
   * statement, so two workers storing at once cannot both get past it.
   */
  store: `INSERT INTO celeriac_results (task_id, status, document, expires_at, seq)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (task_id) DO UPDATE SET
  status = excluded.status, document = excluded.document,
  expires_at = excluded.expires_at, seq = excluded.seq
WHERE celeriac_results.status <> 'SUCCESS' OR celeriac_results.expires_at <= ?`,
  /** Params: task id, now. */
  get: `SELECT document FROM celeriac_results WHERE task_id = ? AND expires_at > ?`,
  /** Params: task ids as a JSON array, now. One query for any number of ids. */
  getMany: `SELECT task_id, document FROM celeriac_results
WHERE task_id IN (SELECT value FROM json_each(?)) AND expires_at > ?`,
  /**
   * Params: now, seq already seen, most rows. What changed since that seq, in commit order, and
   * whether it is now a live ready state (the only kind a waiter takes). Documents are not
   * read here: most changes are for tasks nobody in this process waits for.
   */
  changes: `SELECT seq, task_id, status IN ${READY} AND expires_at > ? AS ready
FROM celeriac_results WHERE seq > ? ORDER BY seq LIMIT ?`,
  /** Params: task id. */
  forget: `DELETE FROM celeriac_results WHERE task_id = ?`,
  /** Params: now, most rows. */
  sweep: `DELETE FROM celeriac_results WHERE task_id IN
  (SELECT task_id FROM celeriac_results WHERE expires_at <= ? LIMIT ?)`,
} as const;
