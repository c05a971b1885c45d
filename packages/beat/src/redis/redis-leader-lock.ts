import { runScript } from '@celeriac/broker/redis/internal';
import type { Redis } from 'ioredis';
import { parseToken, type Lease, type LeadershipResult } from '../store/schedule-store.js';
import type { BeatKeys } from './keys.js';
import { ACQUIRE_SCRIPT, RELEASE_SCRIPT, RENEW_SCRIPT } from './scripts.js';

/** Days the fencing counter outlives the last acquisition. */
const FENCE_TTL_MS = 30 * 86_400_000;

/**
 * The Redis schedule store's leader lock: the `lock` key holds `<fence>:<owner>` with a PX TTL,
 * the fence drawn from the `fence` counter at each acquisition, so a leader that lost the lock
 * and has not noticed yet is refused by the claim script (fencing). Each step is one script;
 * the store translates failures.
 */
export class RedisLeaderLock {
  readonly #client: Redis;
  readonly #keys: BeatKeys;

  constructor(client: Redis, keys: BeatKeys) {
    this.#client = client;
    this.#keys = keys;
  }

  /** Takes the lock when free (a new fence), or extends it when `owner` holds it already. */
  async acquire(owner: string, ttlMs: number): Promise<LeadershipResult> {
    const r = await runScript(
      this.#client,
      ACQUIRE_SCRIPT,
      [this.#keys.lock, this.#keys.fence],
      [owner, Math.round(ttlMs), FENCE_TTL_MS],
    );
    const token = r[1];
    const { fence, owner: holder } = parseToken(token);
    if (r[0] === 1) return { acquired: true, lease: { owner, fence, token } };
    return { acquired: false, holder, ttlMs: Math.max(0, Number(r[2] ?? 0)) };
  }

  /** Extends the lock; false when it is gone or someone else's. */
  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const r = await runScript(
      this.#client,
      RENEW_SCRIPT,
      [this.#keys.lock],
      [lease.token, Math.round(ttlMs)],
    );
    return r === 1;
  }

  /** Deletes the lock if `lease` still holds it. */
  async release(lease: Lease): Promise<void> {
    await runScript(this.#client, RELEASE_SCRIPT, [this.#keys.lock], [lease.token]);
  }

  /** Who holds the lock and for how much longer, or undefined when nobody does. */
  async holder(): Promise<{ owner: string; fence: number; ttlMs: number } | undefined> {
    const [token, ttl] = await Promise.all([
      this.#client.get(this.#keys.lock),
      this.#client.pttl(this.#keys.lock),
    ]);
    if (!token) return undefined;
    const { fence, owner } = parseToken(token);
    return { owner, fence, ttlMs: Math.max(0, ttl) };
  }
}
