import type { EntryDefinition, EntrySource, StoredEntry } from '../entry.js';

/**
 * Where beat keeps its entries, their run-time state and its leader lock. Every beat process
 * shares one store, so an edit made through any of them (or the CLI) applies at the leader's
 * next loop, and a restarted beat resumes from the stored next run times.
 *
 * The contract is written for the two guarantees beat makes:
 *
 * - **One dispatcher.** `acquireLeadership` hands out a lease with a fencing token; only the
 *   holder of the current token can `claim`.
 * - **One enqueue per run.** `claim` is atomic per entry: it checks the token, that the entry
 *   is unchanged since it was read (`revision`, `nextRunAt`), and that each run is later than
 *   every run claimed before (a per-entry high-water mark, the idempotency key of a run being
 *   (entry, scheduled time)); only then does it advance the entry and record the runs as
 *   pending. So a run is claimed once even when two beats both believe they lead.
 *
 * A claimed run stays pending until `settle` says it was published; a new leader republishes
 * pending runs older than the lock TTL, with the same task id (see docs/beat.md).
 *
 * Implementations: {@link MemoryScheduleStore} (one process), `RedisScheduleStore`
 * (`@celeriac/beat/redis`) and `SqliteScheduleStore` (`@celeriac/beat/sqlite`, the processes
 * of one host). Times are epoch milliseconds on the caller's clock.
 */
export interface ScheduleStore {
  /** Names this store's data (Redis key prefix); also part of every run's task id. */
  readonly namespace: string;
  /** Creates or updates entries; see {@link UpsertMode}. */
  upsert(entries: readonly EntryWrite[], mode: UpsertMode, now: number): Promise<UpsertResult[]>;
  /** Removes an entry. Its high-water mark is kept for a day, so re-adding it never repeats a run. */
  remove(name: string, now: number): Promise<boolean>;
  /** Pauses or resumes an entry; resuming sets its next run (runs missed while paused are skipped). */
  setEnabled(
    name: string,
    enabled: boolean,
    next: NextRun | undefined,
    now: number,
  ): Promise<boolean>;
  get(name: string): Promise<StoredEntry | undefined>;
  list(): Promise<StoredEntry[]>;
  /** Enabled entries due at `now`, earliest first, at most `limit`. */
  due(now: number, limit: number): Promise<StoredEntry[]>;
  /** When the earliest enabled entry is due, if any. */
  nextDueAt(): Promise<number | undefined>;
  /**
   * Claims runs for several entries, each atomically (see above), appending the claimed runs
   * to the entry's `recentRuns` (the newest {@link RECENT_RUNS_KEPT}). Results are in order.
   */
  claim(lease: Lease, claims: readonly TickClaim[], now: number): Promise<ClaimResult[]>;
  /** Marks claimed runs as published. */
  settle(runs: readonly RunRef[]): Promise<void>;
  /** Claimed runs never settled, claimed before `claimedBefore`, oldest first. */
  pending(claimedBefore: number, limit: number): Promise<PendingRun[]>;
  /**
   * Takes the leader lock for `ttlMs` when it is free, or extends it when `owner` holds it.
   * Resolves with the lease, or with who holds it and for how long.
   */
  acquireLeadership(owner: string, ttlMs: number, now: number): Promise<LeadershipResult>;
  /** Extends a held lease; false when it was lost (expired and taken). */
  renewLeadership(lease: Lease, ttlMs: number, now: number): Promise<boolean>;
  /** Gives the lock up if this lease still holds it. */
  releaseLeadership(lease: Lease): Promise<void>;
  /** The current leader, for status output. */
  leader(now: number): Promise<{ owner: string; fence: number; ttlMs: number } | undefined>;
  /** Closes what the store opened. Idempotent. */
  close(): Promise<void>;
}

/**
 * - `sync`: create, or update when the definition differs (a beat starting with its config);
 *   an unchanged entry keeps its state, including a pause.
 * - `create`: create only; an existing entry is left alone (`exists`).
 * - `replace`: create or overwrite definition, enabled flag and next run.
 */
export type UpsertMode = 'sync' | 'create' | 'replace';

export interface NextRun {
  /** Scheduled time of the next run, or null for none. */
  readonly nextRunAt: number | null;
  /** `nextRunAt` plus its jitter. */
  readonly dueAt: number | null;
}

export interface EntryWrite extends NextRun {
  readonly definition: EntryDefinition;
  /** `definitionHash(definition)`. */
  readonly hash: string;
  readonly enabled: boolean;
  readonly source: EntrySource;
}

export type UpsertStatus = 'created' | 'updated' | 'unchanged' | 'exists' | 'full';

export interface UpsertResult {
  readonly name: string;
  readonly status: UpsertStatus;
}

export interface Lease {
  readonly owner: string;
  /** Increases with every acquisition of the lock, by anyone. */
  readonly fence: number;
  /** What the lock holds: `<fence>:<owner>`. */
  readonly token: string;
}

export type LeadershipResult =
  | { readonly acquired: true; readonly lease: Lease }
  | { readonly acquired: false; readonly holder: string; readonly ttlMs: number };

export interface TickClaim extends NextRun {
  readonly name: string;
  /** The entry's `revision` and `nextRunAt` as read; the claim fails if either moved. */
  readonly revision: number;
  readonly expectedNextRunAt: number;
  /** Scheduled times to enqueue, ascending (may be empty when all due runs were skipped). */
  readonly runs: readonly number[];
}

export type ClaimResult =
  /** The runs that were claimed (runs at or below the high-water mark are left out). */
  | { readonly name: string; readonly status: 'claimed'; readonly runs: readonly number[] }
  /** The entry changed, was removed or paused since it was read: nothing happened. */
  | { readonly name: string; readonly status: 'stale' }
  /** The lease is no longer the lock's: nothing happened, and this beat is not the leader. */
  | { readonly name: string; readonly status: 'fenced' };

export interface RunRef {
  readonly name: string;
  readonly scheduledAt: number;
}

export interface PendingRun extends RunRef {
  readonly claimedAt: number;
}

/** Entries at most in one store (a cap, as every key beat writes has a TTL or a cap). */
export const DEFAULT_MAX_ENTRIES = 100_000;
/** Pending runs kept at most; the oldest go first. */
export const DEFAULT_MAX_PENDING = 100_000;
/** Claimed runs an entry's state remembers (`EntryState.recentRuns`), the newest. */
export const RECENT_RUNS_KEPT = 16;
/** How long a removed entry's high-water mark is kept. */
export const TOMBSTONE_TTL_MS = 86_400_000;

export function leaseToken(fence: number, owner: string): string {
  return `${fence}:${owner}`;
}

export function parseToken(token: string): { fence: number; owner: string } {
  const i = token.indexOf(':');
  return { fence: Number(token.slice(0, i)), owner: token.slice(i + 1) };
}
