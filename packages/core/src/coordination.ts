/**
 * Cluster-wide state that clients and workers share beside the queues: revocations, rate-limit
 * schedules and uniqueness claims. The memory implementation is per process (or per
 * `memory://name` namespace); the Redis one is shared by every worker on that Redis.
 *
 * Workers read revocations from a local copy kept current by push (`watchRevocations`), so a
 * revocation costs nothing per task. A rate limit costs one round trip per rate-limited task.
 */
export interface Coordination {
  readonly kind: 'memory' | 'redis' | 'sqlite';
  /**
   * Revokes task ids for `ttlMs`: no worker starts them (a worker started later loads the
   * set), and with `terminate` a worker running one stops it.
   */
  revoke(ids: readonly string[], options: RevokeOptions): Promise<void>;
  /**
   * Reports the revocations in force now, then each new one as it happens. Subscribes before
   * it reads, so none is missed in between.
   */
  watchRevocations(listener: (revocation: Revocation) => void): Promise<RevocationWatch>;
  /**
   * Reserves the next start slot of a rate limit of `count` per `intervalMs` under `key`
   * (slots are evenly spaced, so no window of `intervalMs` holds more than `count` starts).
   * Resolves with how many milliseconds to wait before starting: 0 means now.
   */
  reserveRateSlot(key: string, count: number, intervalMs: number): Promise<number>;
  /**
   * Claims `key` for `taskId` for `ttlMs`. Resolves null when claimed, or the task id that
   * already holds the key.
   */
  claimUnique(key: string, taskId: string, ttlMs: number): Promise<string | null>;
  /** Closes what it opened itself. Idempotent. */
  close(): Promise<void>;
}

export interface RevokeOptions {
  /** How long the revocation is remembered. */
  ttlMs: number;
  /** Stop the task if it is running. */
  terminate: boolean;
}

export interface Revocation {
  readonly id: string;
  readonly terminate: boolean;
  /** Epoch milliseconds after which it is forgotten. */
  readonly expiresAt: number;
}

export interface RevocationWatch {
  /** Revocations in force when the watch started. */
  readonly current: readonly Revocation[];
  stop(): Promise<void>;
}

/** Celery's defaults: revocations are remembered 3 hours, at most 50,000 of them. */
export const DEFAULT_REVOKE_TTL_MS = 3 * 60 * 60 * 1000;
export const MAX_REVOKED = 50_000;
