/**
 * The broker's tables, in one place. Other Celeriac components (result backend, coordination,
 * beat) keep their own `celeriac_*` tables in the same file.
 *
 * A message row is in one of three states: `READY` (in its queue, served by priority, then by
 * when it became ready, then by insertion), `RESERVED` (held by the consumer named in `owner`
 * until `lease_until`) or `DELAYED` (published with a future `deliverAt`, made ready at
 * `ready_at`). Partial indexes keep each state's lookups tight: a fetch never scans delayed or
 * reserved rows, lease recovery never scans ready ones.
 */
export const STATE_READY = 0;
export const STATE_RESERVED = 1;
export const STATE_DELAYED = 2;

export const MESSAGES = 'celeriac_broker_messages';
export const DEAD_LETTERS = 'celeriac_broker_dead_letters';

export const BROKER_SCHEMA = `
CREATE TABLE IF NOT EXISTS ${MESSAGES} (
  id INTEGER PRIMARY KEY,
  queue TEXT NOT NULL,
  priority INTEGER NOT NULL,
  ready_at INTEGER NOT NULL,
  state INTEGER NOT NULL,
  owner TEXT,
  lease_until INTEGER,
  redelivered INTEGER NOT NULL DEFAULT 0,
  meta TEXT NOT NULL,
  body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS ${MESSAGES}_ready ON ${MESSAGES} (queue, priority, ready_at, id) WHERE state = ${STATE_READY};
CREATE INDEX IF NOT EXISTS ${MESSAGES}_delayed ON ${MESSAGES} (ready_at) WHERE state = ${STATE_DELAYED};
CREATE INDEX IF NOT EXISTS ${MESSAGES}_leases ON ${MESSAGES} (lease_until) WHERE state = ${STATE_RESERVED};
CREATE TABLE IF NOT EXISTS ${DEAD_LETTERS} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  dead_at INTEGER NOT NULL,
  code TEXT NOT NULL,
  reason TEXT NOT NULL,
  meta TEXT NOT NULL,
  body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS ${DEAD_LETTERS}_queue ON ${DEAD_LETTERS} (queue, id);
CREATE INDEX IF NOT EXISTS ${DEAD_LETTERS}_age ON ${DEAD_LETTERS} (dead_at);
`;

/** Every statement the broker runs, prepared once per connection. */
export const BROKER_SQL = {
  insert: `INSERT INTO ${MESSAGES} (queue, priority, ready_at, state, redelivered, meta, body) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  /** Claims up to `limit` ready messages of a queue. RETURNING's order is unspecified: sorted by the caller. */
  claim: `UPDATE ${MESSAGES} SET state = ${STATE_RESERVED}, owner = ?, lease_until = ?
    WHERE id IN (SELECT id FROM ${MESSAGES} WHERE state = ${STATE_READY} AND queue = ? ORDER BY priority, ready_at, id LIMIT ?)
    RETURNING id, priority, ready_at, redelivered, meta, body`,
  promoteDue: `UPDATE ${MESSAGES} SET state = ${STATE_READY} WHERE state = ${STATE_DELAYED} AND ready_at <= ?`,
  recoverExpired: `UPDATE ${MESSAGES} SET state = ${STATE_READY}, owner = NULL, lease_until = NULL, redelivered = 1
    WHERE state = ${STATE_RESERVED} AND lease_until <= ?`,
  anyReady: `SELECT 1 FROM ${MESSAGES} WHERE state = ${STATE_READY} AND queue = ? LIMIT 1`,
  anyDue: `SELECT 1 FROM ${MESSAGES} WHERE state = ${STATE_DELAYED} AND ready_at <= ? LIMIT 1`,
  anyExpired: `SELECT 1 FROM ${MESSAGES} WHERE state = ${STATE_RESERVED} AND lease_until <= ? LIMIT 1`,
  nextDue: `SELECT min(ready_at) AS at FROM ${MESSAGES} WHERE state = ${STATE_DELAYED}`,
  nextExpiry: `SELECT min(lease_until) AS at FROM ${MESSAGES} WHERE state = ${STATE_RESERVED}`,
  ack: `DELETE FROM ${MESSAGES} WHERE id = ? AND owner = ?`,
  requeue: `UPDATE ${MESSAGES} SET state = ${STATE_READY}, owner = NULL, lease_until = NULL, redelivered = 1 WHERE id = ? AND owner = ?`,
  renew: `UPDATE ${MESSAGES} SET lease_until = ? WHERE id = ? AND owner = ?`,
  count: `SELECT count(*) AS n FROM ${MESSAGES} WHERE state = ${STATE_READY} AND queue = ?`,
  countDue: `SELECT count(*) AS n FROM ${MESSAGES} WHERE state = ${STATE_DELAYED} AND ready_at <= ? AND queue = ?`,
  countDelayed: `SELECT count(*) AS n FROM ${MESSAGES} WHERE state = ${STATE_DELAYED} AND ready_at > ? AND queue = ?`,
  countReserved: `SELECT count(*) AS n FROM ${MESSAGES} WHERE state = ${STATE_RESERVED} AND queue = ?`,
  purge: `DELETE FROM ${MESSAGES} WHERE state = ${STATE_READY} AND queue = ?`,
  deadLetter: `INSERT INTO ${DEAD_LETTERS} (queue, dead_at, code, reason, meta, body)
    SELECT queue, ?, ?, ?, meta, body FROM ${MESSAGES} WHERE id = ? AND owner = ?`,
  dlExpire: `DELETE FROM ${DEAD_LETTERS} WHERE dead_at <= ?`,
  /** Keeps the newest `limit` of a queue's dead letters. */
  dlCap: `DELETE FROM ${DEAD_LETTERS} WHERE queue = ? AND id <= (SELECT id FROM ${DEAD_LETTERS} WHERE queue = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
  dlList: `SELECT id, queue, dead_at, code, reason, meta, body FROM ${DEAD_LETTERS} WHERE queue = ? ORDER BY id LIMIT ?`,
  dlAll: `SELECT id, meta, body FROM ${DEAD_LETTERS} WHERE queue = ? ORDER BY id`,
  dlOne: `SELECT id, meta, body FROM ${DEAD_LETTERS} WHERE queue = ? AND id = ?`,
  dlDelete: `DELETE FROM ${DEAD_LETTERS} WHERE id = ?`,
  dlPurge: `DELETE FROM ${DEAD_LETTERS} WHERE queue = ?`,
  dlCount: `SELECT count(*) AS n FROM ${DEAD_LETTERS} WHERE queue = ?`,
} as const;
