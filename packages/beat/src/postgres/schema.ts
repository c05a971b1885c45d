import { createHash } from 'node:crypto';

/**
 * Every table, index, channel and statement of beat's PostgreSQL schedule store, in one place
 * (as the Redis keys are in `redis/keys.ts`). Names are `<schema>.<tablePrefix><table>`, both
 * checked identifiers, so several deployments can share a database by schema, by prefix or
 * (rows carry it) by namespace.
 *
 * | table | what | bounded by |
 * | --- | --- | --- |
 * | `<prefix>entries` | definition (JSON text) and state of each entry, with its last 16 claimed runs; a removed entry stays as a tombstone (`removed_at`) holding its high-water mark (`claimed_until`) | `maxEntries` live rows; tombstones are deleted a day after removal |
 * | `<prefix>lock` | one row per namespace: the leader lock (`token` = `<fence>:<owner>`, `expires_at` on the database's clock) and the fencing counter, kept when the lock is released | one row |
 * | `<prefix>pending` | claimed runs not yet published | `maxPending`; rows older than a day are dropped |
 *
 * Entry times (next run, due, last run, claims, removals) are epoch milliseconds on the
 * callers' clock, as in the other stores; only the lock's expiry is on the server's clock, so
 * beats on hosts whose clocks disagree still agree on who leads.
 */
export interface PgNames {
  readonly schema: string;
  readonly entries: string;
  readonly lock: string;
  readonly pending: string;
  /** The LISTEN/NOTIFY channel of entry changes (a quoted identifier when listened to). */
  readonly channel: string;
}

/** Schema and prefix: lowercase identifiers, so no quoting question arises. */
export const IDENTIFIER = /^[a-z_][a-z0-9_]{0,29}$/;

/** PostgreSQL's longest identifier, in bytes (NAMEDATALEN - 1): `pg_notify` refuses a longer channel. */
const MAX_IDENTIFIER = 63;

/**
 * `<schema>.<prefix>changes`, or, when that is longer than a channel may be (a schema and a
 * prefix of 30 characters each), `<prefix>changes_` and a hash of the whole name, cut to fit.
 */
function channelName(schema: string, prefix: string): string {
  const full = `${schema}.${prefix}changes`;
  if (full.length <= MAX_IDENTIFIER) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 16);
  return `${`${prefix}changes`.slice(0, MAX_IDENTIFIER - hash.length - 1)}_${hash}`;
}

export function pgNames(schema: string, prefix: string): PgNames {
  const q = (table: string): string => `"${schema}"."${prefix}${table}"`;
  return {
    schema,
    entries: q('entries'),
    lock: q('lock'),
    pending: q('pending'),
    channel: channelName(schema, prefix),
  };
}

/** The DDL, run once per store in one transaction under an advisory lock (see the store). */
export function schemaSql(schema: string, prefix: string): string {
  const n = pgNames(schema, prefix);
  const i = (name: string): string => `"${prefix}${name}"`;
  return `
CREATE SCHEMA IF NOT EXISTS "${schema}";
CREATE TABLE IF NOT EXISTS ${n.entries} (
  namespace text NOT NULL,
  name text NOT NULL,
  definition text NOT NULL,
  hash text NOT NULL,
  enabled boolean NOT NULL,
  source text NOT NULL,
  next_run_at bigint,
  due_at bigint,
  last_run_at bigint,
  last_dispatched_at bigint,
  total_run_count bigint NOT NULL DEFAULT 0,
  revision bigint NOT NULL,
  claimed_until bigint,
  recent_runs bigint[] NOT NULL DEFAULT '{}',
  removed_at bigint,
  PRIMARY KEY (namespace, name)
);
CREATE INDEX IF NOT EXISTS ${i('entries_due')} ON ${n.entries} (namespace, due_at)
  WHERE removed_at IS NULL AND enabled AND due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS ${i('entries_removed')} ON ${n.entries} (namespace, removed_at)
  WHERE removed_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS ${n.lock} (
  namespace text PRIMARY KEY,
  fence bigint NOT NULL,
  token text,
  owner text,
  expires_at timestamptz
);
CREATE TABLE IF NOT EXISTS ${n.pending} (
  namespace text NOT NULL,
  name text NOT NULL,
  scheduled_at bigint NOT NULL,
  claimed_at bigint NOT NULL,
  PRIMARY KEY (namespace, name, scheduled_at)
);
CREATE INDEX IF NOT EXISTS ${i('pending_by_claim')} ON ${n.pending} (namespace, claimed_at);
`;
}

/** The columns an entry is read with (`EntryRow`). */
const ENTRY = `name, definition, enabled, source, next_run_at, last_run_at, last_dispatched_at,
  total_run_count, revision, recent_runs`;
/** What makes a row count in the due index (the partial index's WHERE, repeated so it is used). */
const DUE = `namespace = $1 AND removed_at IS NULL AND enabled AND due_at IS NOT NULL`;
/** The database's clock plus $n milliseconds. */
const plusMs = (n: number): string =>
  `clock_timestamp() + $${n}::bigint * interval '1 millisecond'`;
/** Milliseconds left on the lock, rounded up. */
const TTL_MS = `ceil(extract(epoch FROM (expires_at - clock_timestamp())) * 1000)::bigint`;

/** Statements with their parameters named in order. */
export function statements(n: PgNames) {
  return {
    /** namespace, names[] → the rows, live or tombstone, locked for the write. */
    entriesForWrite: `SELECT name, revision, claimed_until, removed_at, hash, enabled, next_run_at, recent_runs
FROM ${n.entries} WHERE namespace = $1 AND name = ANY($2::text[]) ORDER BY name FOR UPDATE`,
    /** namespace → live entries. */
    liveCount: `SELECT count(*)::bigint AS n FROM ${n.entries} WHERE namespace = $1 AND removed_at IS NULL`,
    /** namespace, removed before, most rows. */
    purgeTombstones: `DELETE FROM ${n.entries} WHERE namespace = $1 AND name IN
  (SELECT name FROM ${n.entries} WHERE namespace = $1 AND removed_at IS NOT NULL AND removed_at < $2 LIMIT $3)`,
    /**
     * namespace, then one array per column: name, definition, hash, enabled, source, next run,
     * due at, revision, claimed until. New entries, or entries re-added over their tombstone
     * (only the revision and the high-water mark carry over).
     */
    insert: `INSERT INTO ${n.entries} AS e (namespace, name, definition, hash, enabled, source, next_run_at,
  due_at, last_run_at, last_dispatched_at, total_run_count, revision, claimed_until, recent_runs, removed_at)
SELECT $1, u.name, u.definition, u.hash, u.enabled, u.source, u.next_run_at, u.due_at, NULL, NULL, 0,
  u.revision, u.claimed_until, '{}', NULL
FROM unnest($2::text[], $3::text[], $4::text[], $5::boolean[], $6::text[], $7::bigint[], $8::bigint[],
  $9::bigint[], $10::bigint[]) AS u(name, definition, hash, enabled, source, next_run_at, due_at, revision, claimed_until)
ON CONFLICT (namespace, name) DO UPDATE SET definition = excluded.definition, hash = excluded.hash,
  enabled = excluded.enabled, source = excluded.source, next_run_at = excluded.next_run_at,
  due_at = excluded.due_at, last_run_at = NULL, last_dispatched_at = NULL, total_run_count = 0,
  revision = excluded.revision, claimed_until = excluded.claimed_until, recent_runs = '{}', removed_at = NULL`,
    /**
     * namespace, then arrays: name, definition, hash, enabled, source, next run, due at,
     * revision. A live entry's new definition; its run state is kept.
     */
    update: `UPDATE ${n.entries} AS e SET definition = u.definition, hash = u.hash, enabled = u.enabled,
  source = u.source, next_run_at = u.next_run_at, due_at = u.due_at, revision = u.revision
FROM unnest($2::text[], $3::text[], $4::text[], $5::boolean[], $6::text[], $7::bigint[], $8::bigint[],
  $9::bigint[]) AS u(name, definition, hash, enabled, source, next_run_at, due_at, revision)
WHERE e.namespace = $1 AND e.name = u.name`,
    /** namespace, name, now. */
    remove: `UPDATE ${n.entries} SET removed_at = $3, revision = revision + 1, recent_runs = '{}'
WHERE namespace = $1 AND name = $2 AND removed_at IS NULL`,
    /** namespace, now. */
    removeAll: `UPDATE ${n.entries} SET removed_at = $2, revision = revision + 1, recent_runs = '{}'
WHERE namespace = $1 AND removed_at IS NULL`,
    /** namespace, name, enabled. */
    setEnabled: `UPDATE ${n.entries} SET enabled = $3, revision = revision + 1
WHERE namespace = $1 AND name = $2 AND removed_at IS NULL`,
    /** namespace, name, enabled, next run, due at. */
    setEnabledNext: `UPDATE ${n.entries} SET enabled = $3, next_run_at = $4, due_at = $5, revision = revision + 1
WHERE namespace = $1 AND name = $2 AND removed_at IS NULL`,
    /** namespace, name. */
    get: `SELECT ${ENTRY} FROM ${n.entries} WHERE namespace = $1 AND name = $2 AND removed_at IS NULL`,
    /** namespace. */
    list: `SELECT ${ENTRY} FROM ${n.entries} WHERE namespace = $1 AND removed_at IS NULL`,
    /** namespace, now, limit. */
    due: `SELECT ${ENTRY} FROM ${n.entries} WHERE ${DUE} AND due_at <= $2 ORDER BY due_at LIMIT $3`,
    /** namespace. */
    nextDueAt: `SELECT min(due_at) AS t FROM ${n.entries} WHERE ${DUE}`,
    /**
     * namespace, token: the fencing check of a claim. FOR SHARE holds the lock row until the
     * claim commits, so the lock cannot change hands half-way through a claim.
     */
    lockForClaim: `SELECT fence FROM ${n.lock}
WHERE namespace = $1 AND token = $2 AND expires_at > clock_timestamp() FOR SHARE`,
    /**
     * namespace, then arrays: name, next run, due at, claimed until, runs added, last run,
     * recent runs (array literals, `{1,2}`), now. Advances each claimed entry.
     */
    advance: `UPDATE ${n.entries} AS e SET next_run_at = u.next_run_at, due_at = u.due_at,
  claimed_until = COALESCE(u.claimed_until, e.claimed_until),
  last_run_at = COALESCE(u.last_run_at, e.last_run_at),
  last_dispatched_at = CASE WHEN u.added > 0 THEN $9 ELSE e.last_dispatched_at END,
  total_run_count = e.total_run_count + u.added,
  recent_runs = u.recent::bigint[]
FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[])
  AS u(name, next_run_at, due_at, claimed_until, added, last_run_at, recent)
WHERE e.namespace = $1 AND e.name = u.name`,
    /** namespace, names[], scheduled times[], claimed at. */
    addPending: `INSERT INTO ${n.pending} (namespace, name, scheduled_at, claimed_at)
SELECT $1, u.name, u.scheduled_at, $4 FROM unnest($2::text[], $3::bigint[]) AS u(name, scheduled_at)
ON CONFLICT (namespace, name, scheduled_at) DO UPDATE SET claimed_at = excluded.claimed_at`,
    /** namespace, claimed before. */
    expirePending: `DELETE FROM ${n.pending} WHERE namespace = $1 AND claimed_at < $2`,
    /** namespace, most kept: drops the oldest beyond it. */
    trimPending: `DELETE FROM ${n.pending} WHERE namespace = $1 AND (name, scheduled_at) IN
  (SELECT name, scheduled_at FROM ${n.pending} WHERE namespace = $1 ORDER BY claimed_at DESC OFFSET $2)`,
    /** namespace, names[], scheduled times[]. */
    settle: `DELETE FROM ${n.pending} AS p USING unnest($2::text[], $3::bigint[]) AS u(name, scheduled_at)
WHERE p.namespace = $1 AND p.name = u.name AND p.scheduled_at = u.scheduled_at`,
    /** namespace, claimed before, limit. */
    pending: `SELECT name, scheduled_at, claimed_at FROM ${n.pending}
WHERE namespace = $1 AND claimed_at < $2 ORDER BY claimed_at LIMIT $3`,
    /**
     * namespace, owner, TTL ms: takes the lock when free or expired (a new fence), or extends it
     * when `owner` holds it; no row when someone else holds it. One statement, so two beats
     * racing for a free lock cannot both win (the row lock of ON CONFLICT orders them).
     */
    acquire: `INSERT INTO ${n.lock} AS l (namespace, fence, token, owner, expires_at)
VALUES ($1, 1, '1:' || $2, $2, ${plusMs(3)})
ON CONFLICT (namespace) DO UPDATE SET
  fence = CASE WHEN l.owner = $2 AND l.expires_at > clock_timestamp() THEN l.fence ELSE l.fence + 1 END,
  token = CASE WHEN l.owner = $2 AND l.expires_at > clock_timestamp() THEN l.token
    ELSE (l.fence + 1)::text || ':' || $2 END,
  owner = $2,
  expires_at = excluded.expires_at
WHERE l.token IS NULL OR l.expires_at <= clock_timestamp() OR l.owner = $2
RETURNING fence, token`,
    /** namespace → the holder, when the lock is held. */
    holder: `SELECT fence, token, owner, ${TTL_MS} AS ttl_ms FROM ${n.lock}
WHERE namespace = $1 AND token IS NOT NULL AND expires_at > clock_timestamp()`,
    /** namespace, token, TTL ms: extends a lock still held. */
    renew: `UPDATE ${n.lock} SET expires_at = ${plusMs(3)}
WHERE namespace = $1 AND token = $2 AND expires_at > clock_timestamp()`,
    /** namespace, token. */
    release: `UPDATE ${n.lock} SET token = NULL, owner = NULL, expires_at = NULL WHERE namespace = $1 AND token = $2`,
    /** channel, payload (JSON). */
    notify: `SELECT pg_notify($1, $2)`,
  } as const;
}

export type PgStatements = ReturnType<typeof statements>;
