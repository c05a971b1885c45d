import type { Logger } from '@celeriac/core';
import type { Lease, ScheduleStore } from './store/schedule-store.js';

/** What the lock needs of its beat. */
export interface LeaderLockOptions {
  readonly store: ScheduleStore;
  /** This beat's name in the lock. */
  readonly id: string;
  readonly lockTtlMs: number;
  readonly logger: Logger;
  /** Called when this beat takes the lock it did not hold. */
  readonly onElected: () => void;
}

/**
 * A beat's hold on the schedule store's leader lock: taken, renewed every third of its TTL,
 * trusted until a little before it expires, dropped when a claim finds it fenced. A follower
 * learns when to try again (when the holder's lock would expire).
 */
export class LeaderLock {
  readonly #o: LeaderLockOptions;
  #lease: Lease | undefined;
  #validUntil = 0;
  #renewAt = 0;
  #followerSleepMs = 0;

  constructor(options: LeaderLockOptions) {
    this.#o = options;
  }

  /** The lease while this beat holds the lock. */
  get lease(): Lease | undefined {
    return this.#lease;
  }

  /** When the lease stops being trusted (epoch ms). */
  get validUntil(): number {
    return this.#validUntil;
  }

  /** When the lease is next renewed (epoch ms). */
  get renewAt(): number {
    return this.#renewAt;
  }

  /** How long a follower sleeps before it tries the lock again, in milliseconds. */
  get followerSleepMs(): number {
    return this.#followerSleepMs;
  }

  /** True while this beat holds a lease it still trusts at `now`. */
  leads(now: number): boolean {
    return this.#lease !== undefined && now < this.#validUntil;
  }

  /** Takes or renews the lock; resolves true when this beat leads. */
  async lead(now: number): Promise<boolean> {
    const { store, lockTtlMs: ttl, logger } = this.#o;
    if (this.#lease && now < this.#renewAt && now < this.#validUntil) return true;
    if (this.#lease) {
      let renewed: boolean;
      try {
        renewed = await store.renewLeadership(this.#lease, ttl, now);
      } catch (err) {
        logger.error({ err }, 'beat: cannot renew the leader lock');
        this.#followerSleepMs = Math.min(1000, ttl / 4);
        return now < this.#validUntil;
      }
      if (renewed) {
        this.#leaseFrom(now);
        return true;
      }
      logger.warn({ fence: this.#lease.fence }, 'beat: lost the leader lock; following');
      this.#lease = undefined;
    }
    let result;
    try {
      result = await store.acquireLeadership(this.#o.id, ttl, now);
    } catch (err) {
      logger.error({ err }, 'beat: cannot reach the schedule store for the leader lock');
      this.#followerSleepMs = Math.min(1000, ttl / 4);
      return false;
    }
    if (result.acquired) {
      const wasLeader = this.#lease !== undefined;
      this.#lease = result.lease;
      this.#leaseFrom(now);
      if (!wasLeader) {
        logger.info({ fence: result.lease.fence }, 'beat: leader');
        this.#o.onElected();
      }
      return true;
    }
    // Wake when the holder's lock would expire, so a dead leader is replaced within its TTL.
    this.#followerSleepMs = Math.max(5, Math.min(result.ttlMs + 5, ttl));
    return false;
  }

  /** Forgets the lease: a claim found it fenced (another beat holds the lock now). */
  drop(): void {
    this.#lease = undefined;
  }

  /** Gives the lock up, so another beat takes over at once. */
  async release(): Promise<void> {
    const lease = this.#lease;
    if (!lease) return;
    this.#lease = undefined;
    await this.#o.store
      .releaseLeadership(lease)
      .catch((err: unknown) =>
        this.#o.logger.warn({ err }, 'beat: releasing the leader lock failed'),
      );
  }

  #leaseFrom(sentAt: number): void {
    const ttl = this.#o.lockTtlMs;
    // The lock was set no earlier than `sentAt`; stop trusting it a little before it expires.
    this.#validUntil = sentAt + ttl * 0.9;
    this.#renewAt = sentAt + ttl / 3;
  }
}
