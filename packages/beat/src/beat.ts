import {
  CeleriacError,
  ErrorCodes,
  silentLogger,
  systemClock,
  type Clock,
  type ControlChannel,
  type Logger,
} from '@celeriac/core';
import type { ApplyOptions } from '@celeriac/client';
import { forwardCeleryEvents, type CeleryEventsForwarder } from './beat-celery-events.js';
import { Dispatcher } from './beat-dispatch.js';
import { BeatEntries } from './beat-entries.js';
import { RunTracker } from './beat-runs.js';
import {
  checkConfigEntries,
  compileBeatOptions,
  type BeatOptions,
  type CompiledBeatOptions,
} from './beat-options.js';
import type { BeatRole, BeatState, TickReport } from './beat-types.js';
import { BeatWake, entryEvent } from './beat-wake.js';
import type { EntryPatch } from './entry-patch.js';
import type { BeatEntry, StoredEntry } from './entry.js';
import { BeatEvents, type BeatEventName, type BeatListener, type RunOutcome } from './events.js';
import { LeaderLock } from './leader-lock.js';
import type { Schedule } from './schedules/schedule.js';
import { MemoryScheduleStore } from './store/memory-schedule-store.js';
import type { ScheduleStore, UpsertResult } from './store/schedule-store.js';

export { BEAT_SPEC, compileBeatOptions } from './beat-options.js';
export type { BeatOptions, CompiledBeatOptions } from './beat-options.js';
export type { BeatRole, BeatState, TickReport } from './beat-types.js';

/** What beat needs of the app: `sendTask` (and, when present, its logger and clock). */
export interface BeatApp {
  sendTask(
    name: string,
    args?: readonly unknown[],
    kwargs?: Record<string, unknown>,
    options?: ApplyOptions,
  ): { readonly published: Promise<void> };
  /**
   * What became of earlier runs, by task id, in order (from the result backend). Beat uses it
   * for `maxInstances` and the `executed` / `error` events; without it neither is available.
   */
  runOutcomes?(taskIds: readonly string[]): Promise<RunOutcome[]>;
  /**
   * The app's registered tasks: a task registered with `ignoreResult` stores no result, so
   * beat does not apply `maxInstances` to its entries (it could never tell a run ended).
   */
  readonly tasks?: ReadonlyMap<
    string,
    { readonly options: { readonly ignoreResult?: boolean | undefined } }
  >;
  /** The broker, for the `events: true` option (Celery events on `celeryev`). */
  broker?(): Promise<{ readonly control?: ControlChannel | undefined }>;
  readonly logger?: Logger;
  readonly clock?: Clock;
}

/**
 * The beat scheduler: enqueues each run of each entry once, however many beat processes run.
 *
 * Every process competes for a leader lock (short TTL, renewed, fenced); the leader reads due
 * entries from the store, claims their runs atomically (so a run is claimed once even if two
 * beats lead at once), publishes each run through the app with a task id derived from
 * (entry, scheduled time), and marks it published. Followers wait for the lock to expire.
 *
 * Time comes from the injected clock; `tick()` runs one iteration, so tests drive a beat with
 * a `ManualClock` and no timers.
 *
 * @example
 * ```ts
 * import { Beat, crontab, every } from '@celeriac/beat';
 * import { RedisScheduleStore } from '@celeriac/beat/redis';
 *
 * const beat = new Beat(app, {
 *   store: new RedisScheduleStore({ url: 'redis://localhost:6379' }),
 *   timezone: 'Europe/London',
 *   entries: [
 *     { name: 'nightly-report', task: 'reports.nightly', schedule: crontab('0 3 * * *') },
 *     { name: 'heartbeat', task: 'ops.ping', schedule: every(30).seconds(), options: { expires: 25 } },
 *   ],
 * });
 * await beat.start();
 * process.once('SIGTERM', () => void beat.close());
 * ```
 */
export class Beat {
  readonly options: CompiledBeatOptions;
  readonly entries: BeatEntries;
  readonly store: ScheduleStore;
  /** What this beat reports; see {@link Beat.on}. */
  readonly events: BeatEvents;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #config: readonly BeatEntry[];
  readonly #ownsStore: boolean;
  readonly #lock: LeaderLock;
  readonly #runs: RunTracker;
  readonly #dispatcher: Dispatcher;
  readonly #celeryEvents: CeleryEventsForwarder | undefined;
  #state: BeatState = 'idle';
  #nextRecoveryAt = 0;
  #starting: Promise<unknown> | undefined;
  #closing: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  readonly #wake: BeatWake;

  constructor(app: BeatApp, options: BeatOptions = {}) {
    this.options = compileBeatOptions(options);
    this.#logger = (options.logger ?? app.logger ?? silentLogger).child({
      component: 'beat',
      beat: this.options.id,
    });
    this.#clock = options.clock ?? app.clock ?? systemClock;
    this.#ownsStore = options.store === undefined;
    this.store = options.store ?? new MemoryScheduleStore();
    this.events = new BeatEvents(this.#logger);
    this.entries = new BeatEntries(this.store, {
      clock: this.#clock,
      timezone: this.options.timezone,
      events: this.events,
      ...this.options.misfire,
      ...this.options.instances,
    });
    this.#lock = new LeaderLock({
      store: this.store,
      id: this.options.id,
      lockTtlMs: this.options.lockTtlMs,
      logger: this.#logger,
      onElected: () => {
        this.#nextRecoveryAt = 0;
      },
    });
    this.#runs = new RunTracker({
      app,
      events: this.events,
      logger: this.#logger,
      namespace: this.store.namespace,
      pollIntervalMs: Math.min(1000, this.options.maxLoopIntervalMs),
    });
    this.#dispatcher = new Dispatcher({
      app,
      store: this.store,
      entries: this.entries,
      lock: this.#lock,
      runs: this.#runs,
      events: this.events,
      logger: this.#logger,
      clock: this.#clock,
      options: this.options,
    });
    this.#config = [...(options.entries ?? [])];
    checkConfigEntries(this.#config, this.options);
    this.#wake = new BeatWake({
      logger: this.#logger,
      leads: () => this.#state === 'running' && this.role === 'leader',
      // Edits made in another process (this one's are emitted by `entries` as they are made).
      onChange: (change) => {
        if (change.origin !== undefined && change.origin === this.store.origin) return;
        const e = entryEvent(change);
        if (e) this.events.emit(e.name, e.event);
      },
    });
    if (this.options.events)
      this.#celeryEvents = forwardCeleryEvents(this.events, app, this.options.id, this.#logger);
  }

  /**
   * Listens to one of this beat's events (payloads in `BeatEventMap`): `submitted`,
   * `executed`, `error`, `missed`, `maxInstances`, and the edits made through this beat's
   * entries or, while it runs, by other processes (`origin` names the writer). A listener that
   * throws is logged; it never stops the beat. Returns `this`.
   */
  on<K extends BeatEventName>(name: K, listener: BeatListener<K>): this {
    this.events.on(name, listener);
    return this;
  }

  off<K extends BeatEventName>(name: K, listener: BeatListener<K>): this {
    this.events.off(name, listener);
    return this;
  }

  get state(): BeatState {
    return this.#state;
  }

  get role(): BeatRole {
    return this.#lock.leads(this.#clock.now()) ? 'leader' : 'follower';
  }

  /** Runs published by this process since it started. */
  get published(): number {
    return this.#dispatcher.published;
  }

  /** Writes the configured entries to the store (without starting the loop). */
  syncEntries(): Promise<UpsertResult[]> {
    return this.entries.sync(this.#config);
  }

  /**
   * Syncs the configured entries and starts the loop in the background. Only an `idle` beat
   * starts: in any other state this throws `CELERIAC_ERR_INVALID_STATE` (`details.state`). A
   * `close()` while it syncs wins: `start()` then resolves without starting the loop.
   */
  async start(): Promise<void> {
    const state = this.#state;
    if (state !== 'idle') {
      throw new CeleriacError(ErrorCodes.INVALID_STATE, `this beat cannot start: it is ${state}`, {
        details: { state },
      });
    }
    this.#state = 'starting';
    const syncing = this.#wake.watch(this.store).then(() => this.syncEntries());
    this.#starting = syncing;
    let results: UpsertResult[];
    try {
      results = await syncing;
    } catch (err) {
      if (this.#state === 'starting') this.#state = 'closed';
      await this.#wake.close();
      throw err;
    }
    if (this.#state !== 'starting') return;
    const changed = results.filter((r) => r.status !== 'unchanged');
    this.#logger.info(
      {
        entries: this.#config.length,
        changed: changed.map((r) => `${r.name}:${r.status}`),
        lockTtlMs: this.options.lockTtlMs,
      },
      'beat: starting',
    );
    this.#state = 'running';
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (this.#state === 'running') {
      let sleepMs: number;
      this.#wake.looking();
      try {
        sleepMs = (await this.tick()).sleepMs;
      } catch (err) {
        this.#logger.error({ err }, 'beat: loop failed; retrying');
        sleepMs = Math.min(1000, this.options.maxLoopIntervalMs);
      }
      if (this.#state !== 'running') break;
      await this.#wake.sleep(sleepMs);
    }
  }

  /**
   * One iteration: take or renew the lock; as leader, republish stale pending runs and enqueue
   * every due run. Resolves with how long to sleep before the next tick.
   */
  async tick(): Promise<TickReport> {
    const now = this.#clock.now();
    await this.#runs.poll(now);
    if (!(await this.#lock.lead(now))) {
      return { role: 'follower', published: 0, sleepMs: this.#lock.followerSleepMs };
    }
    let published = 0;
    if (now >= this.#nextRecoveryAt) {
      this.#nextRecoveryAt = now + this.options.lockTtlMs / 2;
      published += await this.#dispatcher.recover(now);
    }
    published += await this.#dispatcher.dispatchDue(now);
    const after = this.#clock.now();
    let wakeAt = Math.min(after + this.options.maxLoopIntervalMs, this.#lock.renewAt);
    const nextDue = await this.store.nextDueAt();
    if (nextDue !== undefined) wakeAt = Math.min(wakeAt, nextDue);
    return { role: this.role, published, sleepMs: Math.max(0, wakeAt - after) };
  }

  // -- the entries API, for convenience on the beat itself ---------------------------------

  /** Adds an entry at run time; see `BeatEntries.add`. */
  add(entry: BeatEntry, options: { replace?: boolean } = {}): Promise<StoredEntry> {
    return this.entries.add(entry, options);
  }

  modify(name: string, patch: EntryPatch): Promise<StoredEntry | undefined> {
    return this.entries.modify(name, patch);
  }

  reschedule(name: string, schedule: Schedule): Promise<StoredEntry | undefined> {
    return this.entries.reschedule(name, schedule);
  }

  remove(name: string): Promise<boolean> {
    return this.entries.remove(name);
  }

  removeAll(): Promise<number> {
    return this.entries.removeAll();
  }

  pause(name: string): Promise<boolean> {
    return this.entries.pause(name);
  }

  resume(name: string): Promise<boolean> {
    return this.entries.resume(name);
  }

  list(): Promise<StoredEntry[]> {
    return this.entries.list();
  }

  /**
   * Stops the loop, waits for runs being published (and for a `start()` under way), and gives
   * up the lock so another beat takes over at once. Closes the store only if the beat created
   * it. Idempotent; a closed beat never starts again.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /**
   * @deprecated Use `close()`, which this calls; `stop()` goes in the next release.
   */
  stop(): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#state = 'closing';
    this.#wake.stop();
    // A start() syncing entries still uses the store: let it finish (it then does not run).
    await this.#starting?.catch(() => undefined);
    await this.#loop;
    await this.#wake.close();
    await this.#lock.release();
    await this.#celeryEvents?.close();
    if (this.#ownsStore) await this.store.close();
    this.#state = 'closed';
    this.#logger.info({ published: this.published }, 'beat: closed');
  }
}
