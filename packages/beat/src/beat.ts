import {
  CeleriacError,
  ErrorCodes,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
} from '@celeriac/core';
import type { ApplyOptions } from '@celeriac/client';
import { BeatEntries } from './beat-entries.js';
import {
  checkConfigEntries,
  compileBeatOptions,
  type BeatOptions,
  type CompiledBeatOptions,
} from './beat-options.js';
import type { BeatRole, BeatState, TickReport } from './beat-types.js';
import { BeatWake } from './beat-wake.js';
import type { EntryPatch } from './entry-patch.js';
import { runTaskId, type BeatEntry, type EntryDefinition, type StoredEntry } from './entry.js';
import type { RunOutcome } from './events.js';
import { LeaderLock } from './leader-lock.js';
import { logPlan, planTicks } from './misfire.js';
import type { Schedule } from './schedules/schedule.js';
import { MemoryScheduleStore } from './store/memory-schedule-store.js';
import type {
  PendingRun,
  RunRef,
  ScheduleStore,
  TickClaim,
  UpsertResult,
} from './store/schedule-store.js';

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
  readonly #app: BeatApp;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #config: readonly BeatEntry[];
  readonly #ownsStore: boolean;
  readonly #lock: LeaderLock;
  #state: BeatState = 'idle';
  #nextRecoveryAt = 0;
  #starting: Promise<unknown> | undefined;
  #closing: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  readonly #wake: BeatWake;
  readonly #inFlight = new Set<string>();
  #published = 0;

  constructor(app: BeatApp, options: BeatOptions = {}) {
    this.options = compileBeatOptions(options);
    this.#app = app;
    this.#logger = (options.logger ?? app.logger ?? silentLogger).child({
      component: 'beat',
      beat: this.options.id,
    });
    this.#clock = options.clock ?? app.clock ?? systemClock;
    this.#ownsStore = options.store === undefined;
    this.store = options.store ?? new MemoryScheduleStore();
    this.entries = new BeatEntries(this.store, {
      clock: this.#clock,
      timezone: this.options.timezone,
      ...this.options.misfire,
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
    this.#config = [...(options.entries ?? [])];
    checkConfigEntries(this.#config, this.options);
    this.#wake = new BeatWake({
      logger: this.#logger,
      leads: () => this.#state === 'running' && this.role === 'leader',
      // The entry events' hook: `onChange: (c) => emit entryEvent(c)` once the beat has `on()`.
    });
  }

  get state(): BeatState {
    return this.#state;
  }

  get role(): BeatRole {
    return this.#lock.leads(this.#clock.now()) ? 'leader' : 'follower';
  }

  /** Runs published by this process since it started. */
  get published(): number {
    return this.#published;
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
    if (!(await this.#lock.lead(now))) {
      return { role: 'follower', published: 0, sleepMs: this.#lock.followerSleepMs };
    }
    let published = await this.#recover(now);
    published += await this.#dispatchDue(now);
    const after = this.#clock.now();
    let wakeAt = Math.min(after + this.options.maxLoopIntervalMs, this.#lock.renewAt);
    const nextDue = await this.store.nextDueAt();
    if (nextDue !== undefined) wakeAt = Math.min(wakeAt, nextDue);
    return { role: this.role, published, sleepMs: Math.max(0, wakeAt - after) };
  }

  async #dispatchDue(now: number): Promise<number> {
    // Claims go batch by batch; publishes of a claimed batch run while the next is claimed.
    const sends: Promise<RunRef | undefined>[] = [];
    for (let round = 0; round < 20; round++) {
      const lease = this.#lock.lease;
      if (!lease) break;
      const due = await this.store.due(now, this.options.batchSize);
      if (due.length === 0) break;
      const claims: TickClaim[] = [];
      const byName = new Map<string, StoredEntry>();
      for (const entry of due) {
        const claim = this.#plan(entry, now);
        if (claim) {
          claims.push(claim);
          byName.set(entry.definition.name, entry);
        }
      }
      const results = await this.store.claim(lease, claims, now);
      for (const r of results) {
        if (r.status === 'fenced') {
          this.#logger.warn(
            { fence: lease.fence },
            'beat: the leader lock moved to another beat; following',
          );
          this.#lock.drop();
          break;
        }
        if (r.status === 'stale') {
          this.#logger.debug(
            { entry: r.name },
            'beat: entry changed while being dispatched; will look again',
          );
          continue;
        }
        const entry = byName.get(r.name);
        if (!entry) continue;
        for (const at of r.runs) sends.push(this.#publish(entry.definition, at, now));
      }
      if (due.length < this.options.batchSize) break;
    }
    const settled = (await Promise.all(sends)).filter((x): x is RunRef => x !== undefined);
    if (settled.length > 0) await this.store.settle(settled);
    return settled.length;
  }

  #plan(entry: StoredEntry, now: number): TickClaim | undefined {
    const { definition: d, state } = entry;
    if (state.nextRunAt === null) return undefined;
    let schedule;
    try {
      schedule = this.entries.scheduleOf(entry);
    } catch (err) {
      this.#logger.error(
        { err, entry: d.name },
        'beat: the stored schedule is invalid; pausing the entry',
      );
      void this.store.setEnabled(d.name, false, undefined, now).catch(() => undefined);
      return undefined;
    }
    const plan = planTicks({ definition: d, schedule, nextRunAt: state.nextRunAt, now });
    logPlan(this.#logger, d, plan);
    return {
      name: d.name,
      revision: state.revision,
      expectedNextRunAt: state.nextRunAt,
      runs: plan.dispatch,
      nextRunAt: plan.nextRunAt,
      dueAt: plan.dueAt,
    };
  }

  /** Publishes one claimed run; resolves with it when the broker has it, else undefined (it stays pending). */
  async #publish(
    d: EntryDefinition,
    scheduledAt: number,
    now: number,
  ): Promise<RunRef | undefined> {
    const key = `${d.name}\n${scheduledAt}`;
    if (this.#inFlight.has(key)) return undefined;
    this.#inFlight.add(key);
    const taskId = runTaskId(this.store.namespace, d.name, scheduledAt);
    const log = { entry: d.name, task: d.task, taskId, scheduledAt: iso(scheduledAt) };
    try {
      if (this.#clock.now() >= this.#lock.validUntil) {
        this.#logger.warn(
          log,
          'beat: leader lock about to expire; leaving the run to the next leader',
        );
        return undefined;
      }
      const { headers, ...options } = d.options;
      const result = this.#app.sendTask(
        d.task,
        d.args,
        { ...d.kwargs },
        {
          ...options,
          taskId,
          headers: { ...headers, beat_entry: d.name, beat_scheduled_at: iso(scheduledAt) },
        },
      );
      await result.published;
      this.#published++;
      this.#logger.info(
        { ...log, lateMs: now - scheduledAt },
        `beat: sending due task ${d.name} (${d.task})`,
      );
      return { name: d.name, scheduledAt };
    } catch (err) {
      this.#logger.error(
        { ...log, err },
        'beat: publishing a run failed; it stays pending and is retried',
      );
      return undefined;
    } finally {
      this.#inFlight.delete(key);
    }
  }

  /** Republishes runs claimed by a beat that died (or failed to publish) before settling them. */
  async #recover(now: number): Promise<number> {
    if (now < this.#nextRecoveryAt) return 0;
    this.#nextRecoveryAt = now + this.options.lockTtlMs / 2;
    const stale: PendingRun[] = await this.store.pending(
      now - this.options.lockTtlMs,
      this.options.batchSize,
    );
    if (stale.length === 0) return 0;
    const settled: RunRef[] = [];
    const sends: Promise<RunRef | undefined>[] = [];
    const entries = new Map<string, StoredEntry | undefined>();
    for (const p of stale) {
      if (!entries.has(p.name)) entries.set(p.name, await this.store.get(p.name));
      const entry = entries.get(p.name);
      if (!entry) {
        settled.push(p);
        continue;
      }
      const grace = entry.definition.misfireGraceTime;
      if (grace !== null && now - p.scheduledAt > grace * 1000) {
        this.#logger.warn(
          { entry: p.name, scheduledAt: iso(p.scheduledAt) },
          'beat: a pending run is later than misfireGraceTime; skipped',
        );
        settled.push(p);
        continue;
      }
      this.#logger.warn(
        { entry: p.name, scheduledAt: iso(p.scheduledAt), claimedAt: iso(p.claimedAt) },
        'beat: republishing a run claimed but not confirmed',
      );
      sends.push(this.#publish(entry.definition, p.scheduledAt, now));
    }
    const ok = (await Promise.all(sends)).filter((x): x is RunRef => x !== undefined);
    settled.push(...ok);
    if (settled.length > 0) await this.store.settle(settled);
    return ok.length;
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
    if (this.#ownsStore) await this.store.close();
    this.#state = 'closed';
    this.#logger.info({ published: this.#published }, 'beat: closed');
  }
}

function iso(t: number): string {
  return new Date(t).toISOString();
}
