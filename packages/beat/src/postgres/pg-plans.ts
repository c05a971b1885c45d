import {
  TOMBSTONE_TTL_MS,
  type ClaimResult,
  type EntryChange,
  type EntryWrite,
  type RunRef,
  type TickClaim,
  type UpsertMode,
  type UpsertResult,
} from '../store/schedule-store.js';

/**
 * What the PostgreSQL store's upsert and claim decide, as pure functions of the rows they read
 * (locked `FOR UPDATE` in their transaction): the transaction then writes the plan in a few
 * batched statements. Entries are taken in order, a name met twice sees the first's effect,
 * as the Lua scripts and SQLite transactions see it.
 */

/** An entry row as `entriesForWrite` reads it, live or tombstone. */
export interface WriteRow {
  name: string;
  revision: number;
  claimed_until: number | null;
  removed_at: number | null;
  hash: string;
  enabled: boolean;
  next_run_at: number | null;
  recent_runs: number[];
}

export type ClaimRow = WriteRow;

/** Runs kept in `recentRuns`. */
export const RECENT_RUNS = 16;

export interface PlannedWrite {
  readonly name: string;
  readonly write: EntryWrite;
  readonly revision: number;
  readonly claimedUntil: number | null;
}

export interface UpsertPlan {
  readonly results: UpsertResult[];
  /** New rows, or rows replacing a tombstone (or one past its TTL). */
  readonly inserts: PlannedWrite[];
  /** Live rows getting a new definition (their state is kept). */
  readonly updates: PlannedWrite[];
  readonly changes: EntryChange[];
}

export function planUpsert(
  entries: readonly EntryWrite[],
  mode: UpsertMode,
  now: number,
  rows: readonly WriteRow[],
  liveCount: number,
  maxEntries: number,
): UpsertPlan {
  const state = new Map(
    rows.map((r) => [
      r.name,
      {
        // A tombstone older than its TTL is as good as absent (the Redis hash would have expired).
        exists: r.removed_at === null || now - r.removed_at <= TOMBSTONE_TTL_MS,
        live: r.removed_at === null,
        wasLive: r.removed_at === null,
        hash: r.hash,
        revision: r.revision,
        claimedUntil: r.claimed_until,
      },
    ]),
  );
  let live = liveCount;
  const results: UpsertResult[] = [];
  const writes = new Map<string, PlannedWrite & { insert: boolean }>();
  const changes: EntryChange[] = [];
  for (const e of entries) {
    const name = e.definition.name;
    const s = state.get(name);
    const isLive = s?.live === true;
    // An edit made against a revision applies only if the entry is still live at it.
    if (e.revision !== undefined && (!isLive || s.revision !== e.revision)) {
      results.push({ name, status: 'stale' });
      continue;
    }
    if (isLive && mode === 'create') {
      results.push({ name, status: 'exists' });
      continue;
    }
    if (isLive && mode === 'sync' && s.hash === e.hash) {
      results.push({ name, status: 'unchanged' });
      continue;
    }
    if (!isLive && live >= maxEntries) {
      results.push({ name, status: 'full' });
      continue;
    }
    const kept = s?.exists === true ? s : undefined;
    const revision = (kept?.revision ?? 0) + 1;
    const claimedUntil = isLive ? (s.claimedUntil ?? null) : (kept?.claimedUntil ?? null);
    // A row live before this upsert keeps its state (UPDATE); anything else is written whole.
    const insert = s?.wasLive !== true;
    writes.set(name, { name, write: e, revision, claimedUntil, insert });
    state.set(name, {
      exists: true,
      live: true,
      wasLive: s?.wasLive ?? false,
      hash: e.hash,
      revision,
      claimedUntil,
    });
    if (!isLive) live++;
    results.push({ name, status: isLive ? 'updated' : 'created' });
    changes.push({ kind: isLive ? 'modified' : 'added', name });
  }
  const all = [...writes.values()];
  return {
    results,
    inserts: all.filter((w) => w.insert),
    updates: all.filter((w) => !w.insert),
    changes,
  };
}

export interface PlannedAdvance {
  readonly name: string;
  readonly nextRunAt: number | null;
  readonly dueAt: number | null;
  /** The new high-water mark, null when no run was claimed. */
  readonly claimedUntil: number | null;
  readonly added: number;
  readonly lastRunAt: number | null;
  readonly recentRuns: readonly number[];
}

export interface ClaimPlan {
  readonly results: ClaimResult[];
  readonly advances: PlannedAdvance[];
  readonly pending: RunRef[];
}

/** The claim of a lease already checked: see `ScheduleStore.claim`. */
export function planClaims(claims: readonly TickClaim[], rows: readonly ClaimRow[]): ClaimPlan {
  const state = new Map(
    rows.map((r) => [
      r.name,
      {
        live: r.removed_at === null && r.enabled,
        revision: r.revision,
        nextRunAt: r.next_run_at,
        high: r.claimed_until,
        recent: r.recent_runs,
      },
    ]),
  );
  const advances = new Map<string, PlannedAdvance>();
  const pending: RunRef[] = [];
  const results = claims.map((c): ClaimResult => {
    const s = state.get(c.name);
    if (!s?.live || s.revision !== c.revision || s.nextRunAt !== c.expectedNextRunAt) {
      return { name: c.name, status: 'stale' };
    }
    let high = s.high;
    const runs: number[] = [];
    for (const t of c.runs) {
      if (high === null || t > high) {
        runs.push(t);
        high = t;
      }
    }
    const before = advances.get(c.name);
    const recent = runs.length > 0 ? [...s.recent, ...runs].slice(-RECENT_RUNS) : s.recent;
    advances.set(c.name, {
      name: c.name,
      nextRunAt: c.nextRunAt,
      dueAt: c.dueAt,
      claimedUntil: runs.length > 0 ? high : (before?.claimedUntil ?? null),
      added: (before?.added ?? 0) + runs.length,
      lastRunAt: runs.length > 0 ? (runs[runs.length - 1] ?? null) : (before?.lastRunAt ?? null),
      recentRuns: recent,
    });
    for (const t of runs) pending.push({ name: c.name, scheduledAt: t });
    state.set(c.name, { ...s, nextRunAt: c.nextRunAt, high, recent });
    return { name: c.name, status: 'claimed', runs };
  });
  return { results, advances: [...advances.values()], pending };
}
