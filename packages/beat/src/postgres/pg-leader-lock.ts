import { parseToken, type Lease, type LeadershipResult } from '../store/schedule-store.js';
import type { PgDatabase } from './pg-database.js';
import type { PgStatements } from './schema.js';

/**
 * The PostgreSQL store's leader lock: the namespace's row of `<prefix>lock` holds
 * `<fence>:<owner>` and an expiry on the **database's clock**; the fence grows with every
 * acquisition, so a leader that lost the lock and has not noticed yet is refused by the claim's
 * `FOR SHARE` check (fencing). Each step is one statement.
 */
export class PgLeaderLock {
  readonly #db: PgDatabase;
  readonly #sql: PgStatements;
  readonly #namespace: string;

  constructor(db: PgDatabase, sql: PgStatements, namespace: string) {
    this.#db = db;
    this.#sql = sql;
    this.#namespace = namespace;
  }

  /** Takes the lock when free (a new fence), or extends it when `owner` holds it already. */
  async acquire(owner: string, ttlMs: number): Promise<LeadershipResult> {
    const ttl = Math.max(1, Math.round(ttlMs));
    // Twice at most: the holder seen refusing us may have let the lock go before we read it.
    for (let attempt = 0; ; attempt++) {
      const r = await this.#db.query<{ fence: number; token: string }>(
        'acquireLeadership',
        this.#sql.acquire,
        [this.#namespace, owner, ttl],
      );
      const won = r.rows[0];
      if (won) return { acquired: true, lease: { owner, fence: won.fence, token: won.token } };
      const holder = await this.holder('acquireLeadership');
      if (holder) return { acquired: false, holder: holder.owner, ttlMs: holder.ttlMs };
      if (attempt >= 1) return { acquired: false, holder: '', ttlMs: 0 };
    }
  }

  /** Extends the lock; false when it expired or is someone else's. */
  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const r = await this.#db.query('renewLeadership', this.#sql.renew, [
      this.#namespace,
      lease.token,
      Math.max(1, Math.round(ttlMs)),
    ]);
    return r.rowCount === 1;
  }

  /** Frees the lock if `lease` still holds it (the fence stays in the row). */
  async release(lease: Lease): Promise<void> {
    await this.#db.query('releaseLeadership', this.#sql.release, [this.#namespace, lease.token]);
  }

  /** Who holds the lock and for how much longer, or undefined when nobody does. */
  async holder(
    what = 'leader',
  ): Promise<{ owner: string; fence: number; ttlMs: number } | undefined> {
    const r = await this.#db.query<{ token: string; ttl_ms: number }>(what, this.#sql.holder, [
      this.#namespace,
    ]);
    const row = r.rows[0];
    if (!row) return undefined;
    const { fence, owner } = parseToken(row.token);
    return { owner, fence, ttlMs: Math.max(0, row.ttl_ms) };
  }
}
