import type { StoredEntry } from '../entry.js';
import { DefinitionCache } from '../store/definition-cache.js';

/** An entry row as `SQL.get` / `list` / `due` read it. */
export type EntryRow = [
  name: string,
  definition: string,
  enabled: number,
  source: string,
  nextRunAt: number | null,
  lastRunAt: number | null,
  lastDispatchedAt: number | null,
  totalRunCount: number,
  revision: number,
  dueAt: number | null,
  recentRuns: string | null,
];

/** What a write reads of an entry first (`SQL.entryForWrite`). */
export interface WriteRow {
  revision: number;
  claimed_until: number | null;
  removed_at: number | null;
  hash: string;
  enabled: number;
  next_run_at: number | null;
  recent_runs: string | null;
}

/** The leader lock's row of a namespace. */
export interface LockRow {
  fence: number;
  token: string | null;
  owner: string | null;
  expires_at: number | null;
}

/**
 * Entry rows read back as `StoredEntry`s. A definition is parsed once per text it has: a beat
 * reads the same due entries at every tick, and their JSON rarely changes.
 */
export class EntryRows {
  readonly #definitions = new DefinitionCache();

  entry(row: EntryRow): StoredEntry {
    const [
      name,
      raw,
      enabled,
      source,
      nextRunAt,
      lastRunAt,
      lastDispatchedAt,
      totalRunCount,
      revision,
      ,
      recentRuns,
    ] = row;
    return {
      definition: this.#definitions.definition(name, raw),
      state: {
        enabled: enabled === 1,
        source: source === 'config' ? 'config' : 'api',
        nextRunAt,
        lastRunAt,
        lastDispatchedAt,
        totalRunCount,
        revision,
        recentRuns: parseRecentRuns(recentRuns),
      },
    };
  }

  /** Drops the parsed definition of a removed entry. */
  forget(name: string): void {
    this.#definitions.forget(name);
  }
}

/** The `recent_runs` column: scheduled times, comma-separated, ascending. */
export function parseRecentRuns(text: string | null): number[] {
  return text ? text.split(',').map(Number) : [];
}
