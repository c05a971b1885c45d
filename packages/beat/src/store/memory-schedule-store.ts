import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { optionChecks, optionTypes as t, type OptionType } from '@celeriac/core/internal';
import type { EntryDefinition, EntrySource, StoredEntry } from '../entry.js';
import {
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_PENDING,
  RECENT_RUNS_KEPT,
  leaseToken,
  parseToken,
  TOMBSTONE_TTL_MS,
  type ClaimResult,
  type EntryWrite,
  type Lease,
  type LeadershipResult,
  type NextRun,
  type PendingRun,
  type RunRef,
  type ScheduleStore,
  type TickClaim,
  type UpsertMode,
  type UpsertResult,
} from './schedule-store.js';

/** Options of {@link MemoryScheduleStore}. */
export interface MemoryScheduleStoreOptions {
  /** Entries at most. @default 100000 */
  maxEntries?: number;
  /** Part of every run's task id. @default 'default' */
  namespace?: string;
}

interface Row {
  definition: EntryDefinition;
  hash: string;
  enabled: boolean;
  source: EntrySource;
  nextRunAt: number | null;
  dueAt: number | null;
  lastRunAt: number | null;
  lastDispatchedAt: number | null;
  totalRunCount: number;
  revision: number;
  recentRuns: number[];
  claimedUntil: number | null;
  removedAt: number | null;
}

/**
 * The schedule store of one process: entries, state and the lock live in memory and go with
 * it. Fine for a single beat (the default of `new Beat()`, `celeriac worker --beat` on
 * `memory://`); for several beat processes, or to keep state across restarts, use
 * `RedisScheduleStore` or `SqliteScheduleStore`.
 */
export class MemoryScheduleStore implements ScheduleStore {
  readonly #rows = new Map<string, Row>();
  readonly #pending = new Map<string, PendingRun>();
  readonly namespace: string;
  readonly #maxEntries: number;
  #lock: { token: string; owner: string; fence: number; expiresAt: number } | undefined;
  #fence = 0;
  #closed = false;

  constructor(options: MemoryScheduleStoreOptions = {}) {
    optionChecks('MemoryScheduleStore').strict(options, {
      maxEntries: t.positiveInteger,
      namespace: t.nonEmptyString,
    } satisfies { readonly [K in keyof Required<MemoryScheduleStoreOptions>]: OptionType });
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.namespace = options.namespace ?? 'default';
  }

  #assertOpen(): void {
    if (this.#closed) throw new CeleriacError(ErrorCodes.CLOSED, 'this schedule store was closed');
  }

  #live(name: string, now?: number): Row | undefined {
    const row = this.#rows.get(name);
    if (!row) return undefined;
    if (row.removedAt !== null) {
      if (now !== undefined && now - row.removedAt > TOMBSTONE_TTL_MS) this.#rows.delete(name);
      return undefined;
    }
    return row;
  }

  #liveCount(): number {
    let n = 0;
    for (const r of this.#rows.values()) if (r.removedAt === null) n++;
    return n;
  }

  upsert(entries: readonly EntryWrite[], mode: UpsertMode, now: number): Promise<UpsertResult[]> {
    this.#assertOpen();
    const results: UpsertResult[] = [];
    for (const e of entries) {
      const name = e.definition.name;
      const row = this.#live(name, now);
      if (row && mode === 'create') {
        results.push({ name, status: 'exists' });
        continue;
      }
      if (row && mode === 'sync' && row.hash === e.hash) {
        results.push({ name, status: 'unchanged' });
        continue;
      }
      if (!row && this.#liveCount() >= this.#maxEntries) {
        results.push({ name, status: 'full' });
        continue;
      }
      const tomb = this.#rows.get(name);
      this.#rows.set(name, {
        definition: e.definition,
        hash: e.hash,
        enabled: e.enabled,
        source: e.source,
        nextRunAt: e.nextRunAt,
        dueAt: e.dueAt,
        lastRunAt: row?.lastRunAt ?? null,
        lastDispatchedAt: row?.lastDispatchedAt ?? null,
        totalRunCount: row?.totalRunCount ?? 0,
        revision: (tomb?.revision ?? 0) + 1,
        recentRuns: row?.recentRuns ?? [],
        claimedUntil: tomb?.claimedUntil ?? null,
        removedAt: null,
      });
      results.push({ name, status: row ? 'updated' : 'created' });
    }
    return Promise.resolve(results);
  }

  remove(name: string, now: number): Promise<boolean> {
    this.#assertOpen();
    const row = this.#live(name, now);
    if (!row) return Promise.resolve(false);
    row.removedAt = now;
    row.recentRuns = [];
    row.revision++;
    return Promise.resolve(true);
  }

  setEnabled(
    name: string,
    enabled: boolean,
    next: NextRun | undefined,
    now: number,
  ): Promise<boolean> {
    this.#assertOpen();
    const row = this.#live(name, now);
    if (!row) return Promise.resolve(false);
    row.enabled = enabled;
    if (next) {
      row.nextRunAt = next.nextRunAt;
      row.dueAt = next.dueAt;
    }
    row.revision++;
    return Promise.resolve(true);
  }

  get(name: string): Promise<StoredEntry | undefined> {
    this.#assertOpen();
    const row = this.#live(name);
    return Promise.resolve(row ? toStored(row) : undefined);
  }

  list(): Promise<StoredEntry[]> {
    this.#assertOpen();
    const out: StoredEntry[] = [];
    for (const row of this.#rows.values()) if (row.removedAt === null) out.push(toStored(row));
    out.sort((a, b) => a.definition.name.localeCompare(b.definition.name));
    return Promise.resolve(out);
  }

  due(now: number, limit: number): Promise<StoredEntry[]> {
    this.#assertOpen();
    const due: Row[] = [];
    for (const row of this.#rows.values()) {
      if (row.removedAt === null && row.enabled && row.dueAt !== null && row.dueAt <= now)
        due.push(row);
    }
    due.sort((a, b) => (a.dueAt ?? 0) - (b.dueAt ?? 0));
    return Promise.resolve(due.slice(0, limit).map(toStored));
  }

  nextDueAt(): Promise<number | undefined> {
    this.#assertOpen();
    let min: number | undefined;
    for (const row of this.#rows.values()) {
      if (
        row.removedAt === null &&
        row.enabled &&
        row.dueAt !== null &&
        (min === undefined || row.dueAt < min)
      )
        min = row.dueAt;
    }
    return Promise.resolve(min);
  }

  claim(lease: Lease, claims: readonly TickClaim[], now: number): Promise<ClaimResult[]> {
    this.#assertOpen();
    const held = this.#lock && this.#lock.expiresAt > now ? this.#lock.token : undefined;
    if (held !== lease.token)
      return Promise.resolve(claims.map((c) => ({ name: c.name, status: 'fenced' as const })));
    return Promise.resolve(
      claims.map((c): ClaimResult => {
        const row = this.#live(c.name, now);
        if (
          !row ||
          !row.enabled ||
          row.revision !== c.revision ||
          row.nextRunAt !== c.expectedNextRunAt
        ) {
          return { name: c.name, status: 'stale' };
        }
        const runs: number[] = [];
        for (const t of c.runs) {
          if (row.claimedUntil === null || t > row.claimedUntil) {
            runs.push(t);
            row.claimedUntil = t;
          }
        }
        if (runs.length > 0) {
          row.lastRunAt = runs[runs.length - 1] ?? null;
          row.lastDispatchedAt = now;
          row.totalRunCount += runs.length;
          row.recentRuns = [...row.recentRuns, ...runs].slice(-RECENT_RUNS_KEPT);
          for (const t of runs)
            this.#pending.set(pendingKey(c.name, t), {
              name: c.name,
              scheduledAt: t,
              claimedAt: now,
            });
          this.#capPending();
        }
        row.nextRunAt = c.nextRunAt;
        row.dueAt = c.dueAt;
        return { name: c.name, status: 'claimed', runs };
      }),
    );
  }

  #capPending(): void {
    while (this.#pending.size > DEFAULT_MAX_PENDING) {
      const first = this.#pending.keys().next();
      if (first.done) break;
      this.#pending.delete(first.value);
    }
  }

  settle(runs: readonly RunRef[]): Promise<void> {
    this.#assertOpen();
    for (const r of runs) this.#pending.delete(pendingKey(r.name, r.scheduledAt));
    return Promise.resolve();
  }

  pending(claimedBefore: number, limit: number): Promise<PendingRun[]> {
    this.#assertOpen();
    const out = [...this.#pending.values()].filter((p) => p.claimedAt < claimedBefore);
    out.sort((a, b) => a.claimedAt - b.claimedAt);
    return Promise.resolve(out.slice(0, limit));
  }

  acquireLeadership(owner: string, ttlMs: number, now: number): Promise<LeadershipResult> {
    this.#assertOpen();
    const lock = this.#lock;
    if (lock && lock.expiresAt > now) {
      if (lock.owner === owner) {
        lock.expiresAt = now + ttlMs;
        return Promise.resolve({
          acquired: true,
          lease: { owner, fence: lock.fence, token: lock.token },
        });
      }
      return Promise.resolve({ acquired: false, holder: lock.owner, ttlMs: lock.expiresAt - now });
    }
    const fence = ++this.#fence;
    const token = leaseToken(fence, owner);
    this.#lock = { token, owner, fence, expiresAt: now + ttlMs };
    return Promise.resolve({ acquired: true, lease: { owner, fence, token } });
  }

  renewLeadership(lease: Lease, ttlMs: number, now: number): Promise<boolean> {
    this.#assertOpen();
    const lock = this.#lock;
    if (!lock || lock.token !== lease.token || lock.expiresAt <= now) return Promise.resolve(false);
    lock.expiresAt = now + ttlMs;
    return Promise.resolve(true);
  }

  releaseLeadership(lease: Lease): Promise<void> {
    if (this.#lock?.token === lease.token) this.#lock = undefined;
    return Promise.resolve();
  }

  leader(now: number): Promise<{ owner: string; fence: number; ttlMs: number } | undefined> {
    const lock = this.#lock;
    if (!lock || lock.expiresAt <= now) return Promise.resolve(undefined);
    const { fence, owner } = parseToken(lock.token);
    return Promise.resolve({ owner, fence, ttlMs: lock.expiresAt - now });
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

function pendingKey(name: string, t: number): string {
  return `${name}\n${t}`;
}

function toStored(row: Row): StoredEntry {
  return {
    definition: row.definition,
    state: {
      enabled: row.enabled,
      source: row.source,
      nextRunAt: row.nextRunAt,
      lastRunAt: row.lastRunAt,
      lastDispatchedAt: row.lastDispatchedAt,
      totalRunCount: row.totalRunCount,
      revision: row.revision,
      recentRuns: row.recentRuns,
    },
  };
}
