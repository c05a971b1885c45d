import { CeleriacError, ErrorCodes, systemClock, type Clock } from '@celeriac/core';
import { patchedEntry, type EntryPatch } from './entry-patch.js';
import {
  compileEntry,
  definitionHash,
  type BeatEntry,
  type EntryDefaults,
  type EntrySource,
  type StoredEntry,
} from './entry.js';
import { BeatEvents, type BeatEventName, type BeatListener } from './events.js';
import { dueAtMs } from './schedules/jitter.js';
import { nextRunAfterMs, scheduleFromJSON, type Schedule } from './schedules/schedule.js';
import type {
  EntryWrite,
  NextRun,
  ScheduleStore,
  UpsertMode,
  UpsertResult,
} from './store/schedule-store.js';

/** Options of {@link BeatEntries}. */
export interface BeatEntriesOptions extends Partial<EntryDefaults> {
  /** @default the system clock */
  clock?: Clock;
  /**
   * Where edits made through these entries are reported (`added`, `removed`, `modified`,
   * `paused`, `resumed`); a beat passes its own. @default a new `BeatEvents`
   */
  events?: BeatEvents;
}

/** Attempts of a `modify` that lost races with other edits before it gives up. */
const MODIFY_ATTEMPTS = 5;

/**
 * Reads and edits the entries of a schedule store: what `beat.add()` and `celeriac beat add |
 * modify | reschedule | remove | pause | resume | clear | list | next` use. It needs no app and
 * no leadership: an edit goes to the store, which tells every beat watching it (the leader
 * acts on it at once; without a watch, at its next loop).
 */
export class BeatEntries {
  readonly store: ScheduleStore;
  /** What edits made through these entries report; see {@link BeatEntries.on}. */
  readonly events: BeatEvents;
  readonly #clock: Clock;
  readonly #defaults: EntryDefaults;
  readonly #schedules = new Map<string, { revision: number; schedule: Schedule }>();

  constructor(store: ScheduleStore, options: BeatEntriesOptions = {}) {
    this.store = store;
    this.#clock = options.clock ?? systemClock;
    this.events = options.events ?? new BeatEvents();
    const { clock: _clock, events: _events, ...defaults } = options;
    this.#defaults = { ...defaults, timezone: options.timezone ?? 'UTC' };
  }

  /**
   * Listens to the edits made through these entries (this process only: an edit made by
   * another process or the CLI is not seen here). Returns `this`.
   */
  on<K extends BeatEventName>(name: K, listener: BeatListener<K>): this {
    this.events.on(name, listener);
    return this;
  }

  off<K extends BeatEventName>(name: K, listener: BeatListener<K>): this {
    this.events.off(name, listener);
    return this;
  }

  #edited(result: UpsertResult): void {
    if (result.status === 'created') this.events.emit('added', { entry: result.name });
    else if (result.status === 'updated') this.events.emit('modified', { entry: result.name });
  }

  /** The first run after now of a compiled entry. */
  #firstRun(entry: { definition: StoredEntry['definition'] }, now: number): NextRun {
    const schedule = scheduleFromJSON(entry.definition.schedule);
    const next = nextRunAfterMs(schedule, now) ?? null;
    return {
      nextRunAt: next,
      dueAt: next === null ? null : dueAtMs(schedule, entry.definition.name, next),
    };
  }

  /** The stored next run kept, with its due time recomputed for the (maybe new) definition. */
  #keptRun(entry: { definition: StoredEntry['definition'] }, nextRunAt: number | null): NextRun {
    if (nextRunAt === null) return { nextRunAt: null, dueAt: null };
    const schedule = scheduleFromJSON(entry.definition.schedule);
    return {
      nextRunAt,
      dueAt: dueAtMs(schedule, entry.definition.name, nextRunAt),
    };
  }

  #write(entry: BeatEntry, source: EntrySource, now: number): EntryWrite {
    const { definition, enabled } = compileEntry(entry, this.#defaults);
    return {
      definition,
      hash: definitionHash(definition),
      enabled,
      source,
      ...this.#firstRun({ definition }, now),
    };
  }

  /**
   * Adds an entry. Without `replace`, an entry of that name must not exist; with it, the entry
   * is overwritten and its next run recomputed from now. Throws `CELERIAC_ERR_INVALID_SCHEDULE`
   * for an invalid entry.
   */
  async add(entry: BeatEntry, options: { replace?: boolean } = {}): Promise<StoredEntry> {
    const now = this.#clock.now();
    const write = this.#write(entry, 'api', now);
    const [result] = await this.store.upsert([write], options.replace ? 'replace' : 'create', now);
    this.#check(result, write.definition.name);
    if (result) this.#edited(result);
    const stored = await this.store.get(write.definition.name);
    if (!stored)
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `beat entry "${write.definition.name}" vanished right after it was added`,
      );
    return stored;
  }

  #check(result: UpsertResult | undefined, name: string): void {
    if (result?.status === 'exists') {
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `beat entry "${name}" already exists: remove it first or pass replace: true (--replace)`,
        {
          details: { field: 'name', option: 'name', value: name },
        },
      );
    }
    if (result?.status === 'full') {
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `the schedule store is full: remove entries before adding "${name}"`,
        {
          details: { field: 'name', option: 'name', value: name },
        },
      );
    }
  }

  /**
   * Writes the configured entries (a beat starting): new ones are created, changed ones
   * updated, unchanged ones keep their state; entries that came from configuration before and
   * are no longer in it are removed. Entries added through the API are left alone.
   */
  async sync(entries: readonly BeatEntry[], mode: UpsertMode = 'sync'): Promise<UpsertResult[]> {
    const now = this.#clock.now();
    const writes = entries.map((e) => this.#write(e, 'config', now));
    const names = new Set<string>();
    for (const w of writes) {
      if (names.has(w.definition.name)) {
        throw new CeleriacError(
          ErrorCodes.INVALID_SCHEDULE,
          `two beat entries are named "${w.definition.name}": entry names must be unique`,
          {
            details: { field: 'name', option: 'name', value: w.definition.name },
          },
        );
      }
      names.add(w.definition.name);
    }
    const results = writes.length === 0 ? [] : await this.store.upsert(writes, mode, now);
    for (const r of results) if (r.status === 'full') this.#check(r, r.name);
    for (const r of results) this.#edited(r);
    for (const stored of await this.store.list()) {
      const name = stored.definition.name;
      if (stored.state.source === 'config' && !names.has(name)) {
        if (await this.store.remove(name, now)) this.events.emit('removed', { entry: name });
      }
    }
    return results;
  }

  /**
   * Changes part of an entry (APScheduler's `modify_job`); see {@link EntryPatch}. The patch
   * is validated as a whole entry would be (`CELERIAC_ERR_INVALID_SCHEDULE`). The next run is
   * recomputed from now only when the schedule or its time zone changed (or a paused entry is
   * resumed); otherwise the entry keeps its next run, last run and run count. The write
   * applies only to the revision it was computed from: an edit that lands in between makes it
   * read the entry again and apply the patch to that. Resolves with the entry as stored, or
   * undefined when there is no such entry.
   */
  async modify(name: string, patch: EntryPatch): Promise<StoredEntry | undefined> {
    for (let attempt = 0; attempt < MODIFY_ATTEMPTS; attempt++) {
      const stored = await this.store.get(name);
      if (!stored) return undefined;
      const now = this.#clock.now();
      const input = patchedEntry(
        stored.definition,
        stored.state.enabled,
        patch,
        this.#defaults.timezone,
      );
      const { definition, enabled } = compileEntry(input, this.#defaults);
      const hash = definitionHash(definition);
      if (hash === definitionHash(stored.definition) && enabled === stored.state.enabled)
        return stored;
      const rescheduled =
        JSON.stringify(definition.schedule) !== JSON.stringify(stored.definition.schedule) ||
        (enabled && !stored.state.enabled);
      const next = rescheduled
        ? this.#firstRun({ definition }, now)
        : this.#keptRun({ definition }, stored.state.nextRunAt);
      const [result] = await this.store.upsert(
        [
          {
            definition,
            hash,
            enabled,
            source: stored.state.source,
            ...next,
            revision: stored.state.revision,
          },
        ],
        'replace',
        now,
      );
      if (result?.status === 'stale') continue;
      this.#check(result, name);
      if (result) this.#edited(result);
      return this.store.get(name);
    }
    throw new CeleriacError(
      ErrorCodes.INVALID_STATE,
      `beat entry "${name}" changed ${MODIFY_ATTEMPTS} times while it was being modified: try again`,
      { details: { entry: name } },
    );
  }

  /**
   * Gives an entry a new schedule and computes its next run from now (APScheduler's
   * `reschedule_job`). A schedule without a zone of its own keeps the entry's zone, unless
   * `timezone` is given. Resolves with the entry as stored, or undefined when there is none.
   */
  reschedule(
    name: string,
    schedule: Schedule,
    options: { timezone?: string } = {},
  ): Promise<StoredEntry | undefined> {
    return this.modify(name, { schedule, ...options });
  }

  /**
   * Removes every entry of the store's namespace (APScheduler's `remove_all_jobs`), API and
   * configuration entries alike; resolves with how many. A beat that starts afterwards syncs
   * its configuration again.
   */
  removeAll(): Promise<number> {
    return this.store.removeAll(this.#clock.now());
  }

  /** Removes an entry; false when there was none. */
  async remove(name: string): Promise<boolean> {
    const removed = await this.store.remove(name, this.#clock.now());
    if (removed) this.events.emit('removed', { entry: name });
    return removed;
  }

  /** Stops an entry from running until `resume`; false when there is no such entry. */
  async pause(name: string): Promise<boolean> {
    const paused = await this.store.setEnabled(name, false, undefined, this.#clock.now());
    if (paused) this.events.emit('paused', { entry: name });
    return paused;
  }

  /** Resumes a paused entry from now on: runs missed while it was paused are not enqueued. */
  async resume(name: string): Promise<boolean> {
    const stored = await this.store.get(name);
    if (!stored) return false;
    const now = this.#clock.now();
    const resumed = await this.store.setEnabled(name, true, this.#firstRun(stored, now), now);
    if (resumed) this.events.emit('resumed', { entry: name });
    return resumed;
  }

  get(name: string): Promise<StoredEntry | undefined> {
    return this.store.get(name);
  }

  list(): Promise<StoredEntry[]> {
    return this.store.list();
  }

  /** The schedule of a stored entry, rebuilt once per revision. */
  scheduleOf(entry: StoredEntry): Schedule {
    const hit = this.#schedules.get(entry.definition.name);
    if (hit && hit.revision === entry.state.revision) return hit.schedule;
    const schedule = scheduleFromJSON(entry.definition.schedule);
    this.#schedules.set(entry.definition.name, { revision: entry.state.revision, schedule });
    return schedule;
  }

  /** The next `count` run times of an entry from its stored next run (or from now). */
  async upcoming(name: string, count: number): Promise<Date[] | undefined> {
    const stored = await this.store.get(name);
    if (!stored) return undefined;
    const schedule = this.scheduleOf(stored);
    const out: Date[] = [];
    let t: number | undefined = stored.state.nextRunAt ?? undefined;
    if (t === undefined) return out;
    while (out.length < count && t !== undefined) {
      out.push(new Date(t));
      t = nextRunAfterMs(schedule, t);
    }
    return out;
  }
}
