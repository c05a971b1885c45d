import {
  CeleriacError,
  ErrorCodes,
  systemClock,
  type Clock,
  type Coordination,
  type Revocation,
  type RevocationWatch,
  type RevokeOptions,
} from '@celeriac/core';
import {
  type OptionType,
  optionChecks,
  optionTypes as t,
  MAX_REVOKED,
} from '@celeriac/core/internal';
import { parseMemoryUrl } from '../memory/memory-url.js';

export interface MemoryCoordinationOptions {
  /** `memory://` (the process-wide default) or `memory://name` for a separate namespace. @default 'memory://' */
  url?: string;
  /** @default systemClock */
  clock?: Clock;
}

const SPEC = {
  url: t.string,
  clock: t.object,
} as const satisfies { readonly [K in keyof Required<MemoryCoordinationOptions>]: OptionType };

interface Space {
  readonly revoked: Map<string, Revocation>;
  readonly listeners: Set<(r: Revocation) => void>;
  /** key → theoretical start time of the next slot (epoch ms). */
  readonly rates: Map<string, number>;
  readonly unique: Map<string, { taskId: string; expiresAt: number }>;
}

const spaces = new Map<string, Space>();

function spaceFor(url: string): Space {
  const name = parseMemoryUrl(url, 'MemoryCoordination');
  let space = spaces.get(name);
  if (!space) {
    space = { revoked: new Map(), listeners: new Set(), rates: new Map(), unique: new Map() };
    spaces.set(name, space);
  }
  return space;
}

/**
 * Coordination within one process (or one `memory://name` namespace): revocations, rate-limit
 * slots and uniqueness claims, with the same semantics as the Redis implementation.
 */
export class MemoryCoordination implements Coordination {
  readonly kind = 'memory' as const;
  readonly #space: Space;
  readonly #clock: Clock;
  readonly #mine = new Set<(r: Revocation) => void>();
  #closed = false;
  #reservations = 0;

  constructor(options: MemoryCoordinationOptions = {}) {
    optionChecks('MemoryCoordination').strict(options, SPEC);
    this.#space = spaceFor(options.url ?? 'memory://');
    this.#clock = options.clock ?? systemClock;
  }

  revoke(ids: readonly string[], options: RevokeOptions): Promise<void> {
    this.#assertOpen();
    const now = this.#clock.now();
    const { revoked, listeners } = this.#space;
    this.#sweep(now);
    for (const id of ids) {
      const r: Revocation = { id, terminate: options.terminate, expiresAt: now + options.ttlMs };
      revoked.delete(id);
      revoked.set(id, r);
      for (const l of listeners) l(r);
    }
    // Bounded like Celery's revoked set: the oldest revocations go first.
    while (revoked.size > MAX_REVOKED) {
      const oldest = revoked.keys().next().value;
      if (oldest === undefined) break;
      revoked.delete(oldest);
    }
    return Promise.resolve();
  }

  watchRevocations(listener: (revocation: Revocation) => void): Promise<RevocationWatch> {
    this.#assertOpen();
    this.#sweep(this.#clock.now());
    this.#space.listeners.add(listener);
    this.#mine.add(listener);
    return Promise.resolve({
      current: [...this.#space.revoked.values()],
      stop: () => {
        this.#space.listeners.delete(listener);
        this.#mine.delete(listener);
        return Promise.resolve();
      },
    });
  }

  reserveRateSlot(key: string, count: number, intervalMs: number): Promise<number> {
    this.#assertOpen();
    const now = this.#clock.now();
    if (++this.#reservations % 1024 === 0) {
      for (const [k, next] of this.#space.rates) if (next <= now) this.#space.rates.delete(k);
    }
    const spacing = intervalMs / count;
    const next = Math.max(this.#space.rates.get(key) ?? now, now);
    this.#space.rates.set(key, next + spacing);
    return Promise.resolve(next - now);
  }

  claimUnique(key: string, taskId: string, ttlMs: number): Promise<string | null> {
    this.#assertOpen();
    const now = this.#clock.now();
    const held = this.#space.unique.get(key);
    if (held && held.expiresAt > now) return Promise.resolve(held.taskId);
    this.#space.unique.set(key, { taskId, expiresAt: now + ttlMs });
    return Promise.resolve(null);
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const l of this.#mine) this.#space.listeners.delete(l);
    this.#mine.clear();
    return Promise.resolve();
  }

  #sweep(now: number): void {
    for (const [id, r] of this.#space.revoked)
      if (r.expiresAt <= now) this.#space.revoked.delete(id);
    for (const [k, u] of this.#space.unique) if (u.expiresAt <= now) this.#space.unique.delete(k);
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new CeleriacError(ErrorCodes.CLOSED, 'this MemoryCoordination was closed');
  }
}
