import type BetterSqlite3 from 'better-sqlite3';
import { leaseToken, parseToken, type LeadershipResult } from '../store/schedule-store.js';
import type { LockRow } from './entry-rows.js';

/** The lock statements of `SQL` (schema.ts). */
export interface LockStatements {
  readonly lock: BetterSqlite3.Statement<unknown[]>;
  readonly renew: BetterSqlite3.Statement<unknown[]>;
  readonly takeLock: BetterSqlite3.Statement<unknown[]>;
}

/**
 * Takes the namespace's leader lock when it is free (the fence one above the last), or
 * extends it when `owner` holds it. Runs inside the caller's `BEGIN IMMEDIATE` transaction.
 */
export function acquireLock(
  sql: LockStatements,
  ns: string,
  owner: string,
  ttlMs: number,
  now: number,
): LeadershipResult {
  const lock = sql.lock.get(ns) as LockRow | undefined;
  if (lock?.token && lock.expires_at !== null && lock.expires_at > now) {
    if (lock.owner === owner) {
      sql.renew.run(now + ttlMs, ns, lock.token, now);
      return { acquired: true, lease: { owner, fence: lock.fence, token: lock.token } };
    }
    return { acquired: false, holder: lock.owner ?? '', ttlMs: lock.expires_at - now };
  }
  const fence = (lock?.fence ?? 0) + 1;
  const token = leaseToken(fence, owner);
  sql.takeLock.run(ns, fence, token, owner, now + ttlMs);
  return { acquired: true, lease: { owner, fence, token } };
}

/** Who holds the lock at `now`, if anyone. */
export function lockHolder(
  sql: LockStatements,
  ns: string,
  now: number,
): { owner: string; fence: number; ttlMs: number } | undefined {
  const lock = sql.lock.get(ns) as LockRow | undefined;
  if (!lock?.token || lock.expires_at === null || lock.expires_at <= now) return undefined;
  const { fence, owner } = parseToken(lock.token);
  return { owner, fence, ttlMs: lock.expires_at - now };
}
