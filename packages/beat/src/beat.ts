import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  CeleriacError,
  ErrorCodes,
  optionChecks,
  optionTypes as t,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
  type OptionType,
} from '@celeriac/core';
import type { ApplyOptions } from '@celeriac/client';
import { BeatEntries } from './beat-entries.js';
import {
  compileEntry,
  runTaskId,
  type BeatEntry,
  type EntryDefinition,
  type MisfireOptions,
  type StoredEntry,
} from './entry.js';
import { planTicks } from './misfire.js';
import { MemoryScheduleStore } from './store/memory-schedule-store.js';
import type {
  Lease,
  PendingRun,
  RunRef,
  ScheduleStore,
  TickClaim,
  UpsertResult,
} from './store/schedule-store.js';
import { checkTimeZone } from './schedules/wall-clock.js';

/** What beat needs of the app: `sendTask` (and, when present, its logger and clock). */
export interface BeatApp {
  sendTask(
    name: string,
    args?: readonly unknown[],
    kwargs?: Record<string, unknown>,
    options?: ApplyOptions,
  ): { readonly published: Promise<void> };
  readonly logger?: Logger;
  readonly clock?: Clock;
}

/**
 * Options of `new Beat()`. Misfire options given here are the defaults of every entry.
 * Durations are in seconds. An unknown key or a wrong type is refused with
 * `CELERIAC_ERR_INVALID_OPTION`, naming the key and the nearest valid spelling.
 */
export interface BeatOptions extends MisfireOptions {
  /** Entries from configuration, written to the store by `start()` (see `BeatEntries.sync`). @default [] */
  entries?: readonly BeatEntry[];
  /**
   * Where entries, state and the leader lock live. Share one `RedisScheduleStore` (or, on one
   * host, `SqliteScheduleStore`) between all beat processes. @default a new
   * `MemoryScheduleStore` (one process only)
   */
  store?: ScheduleStore;
  /** Time zone of wall-clock schedules that name none. @default 'UTC' */
  timezone?: string;
  /**
   * Seconds the leader lock lives without renewal: a leader that dies is replaced within this
   * time. The leader renews it every third of it. @default 10
   */
  lockTtl?: number;
  /** Longest sleep between two looks at the store, so edits apply promptly. @default 1 */
  maxLoopInterval?: number;
  /** Entries handled per store round trip. @default 500 */
  batchSize?: number;
  /** This process's name in the lock and logs. @default `<hostname>:<pid>:<random>` */
  id?: string;
  /** @default the app's logger, else silent */
  logger?: Logger;
  /** @default the app's clock, else the system clock */
  clock?: Clock;
}

/** Options as compiled: defaults applied, validated, read-only. */
export interface CompiledBeatOptions {
  readonly timezone: string;
  readonly lockTtlMs: number;
  readonly maxLoopIntervalMs: number;
  readonly batchSize: number;
  readonly id: string;
  readonly misfire: Readonly<MisfireOptions>;
}

/** What each `BeatOptions` key takes (also the base of the embedded beat's and the beat config's). */
export const BEAT_SPEC = {
  entries: t.array,
  store: { expected: 'a ScheduleStore', test: (v) => typeof v === 'object' && v !== null },
  timezone: t.nonEmptyString,
  lockTtl: t.range(0.5, 3600, false, 'seconds'),
  maxLoopInterval: t.range(0.01, 300, false, 'seconds'),
  batchSize: t.range(1, 10_000, true),
  id: t.nonEmptyString,
  logger: t.object,
  clock: t.object,
  misfireGraceTime: t.anyOf(t.seconds, {
    expected: 'null (any lateness)',
    test: (v) => v === null,
  }),
  coalesce: t.boolean,
  catchUp: t.boolean,
  catchUpLimit: t.range(1, 10_000, true),
} as const satisfies { readonly [K in keyof Required<BeatOptions>]: OptionType };

export function compileBeatOptions(o: BeatOptions, owner = 'Beat'): CompiledBeatOptions {
  optionChecks(owner).strict(o, BEAT_SPEC, {
    renamed: { lockTtlMs: 'lockTtl', maxLoopIntervalMs: 'maxLoopInterval' },
  });
  const lockTtl = o.lockTtl ?? 10;
  const maxLoop = o.maxLoopInterval ?? 1;
  const batchSize = o.batchSize ?? 500;
  const id = o.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const misfire: MisfireOptions = {};
  if (o.misfireGraceTime !== undefined) misfire.misfireGraceTime = o.misfireGraceTime;
  if (o.coalesce !== undefined) misfire.coalesce = o.coalesce;
  if (o.catchUp !== undefined) misfire.catchUp = o.catchUp;
  if (o.catchUpLimit !== undefined) misfire.catchUpLimit = o.catchUpLimit;
  return Object.freeze({
    timezone: checkTimeZone(o.timezone ?? 'UTC'),
    lockTtlMs: Math.round(lockTtl * 1000),
    maxLoopIntervalMs: Math.round(maxLoop * 1000),
    batchSize,
    id,
    misfire: Object.freeze(misfire),
  });
}

/** Lifecycle of a beat. */
export type BeatState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';
/** Whether this beat dispatches (`leader`) or waits for the lock (`follower`). */
export type BeatRole = 'leader' | 'follower';

/** What one `tick()` did. */
export interface TickReport {
  readonly role: BeatRole;
  /** Runs published in this tick. */
  readonly published: number;
  /** Milliseconds until this beat wants to tick again. */
  readonly sleepMs: number;
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
 * process.once('SIGTERM', () => void beat.stop());
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
  #state: BeatState = 'idle';
  #lease: Lease | undefined;
  #validUntil = 0;
  #renewAt = 0;
  #followerSleepMs = 0;
  #nextRecoveryAt = 0;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
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
    this.#config = [...(options.entries ?? [])];
    // Refuse a bad entry now, at registration, not at its first run.
    const names = new Set<string>();
    for (const e of this.#config) {
      const { definition } = compileEntry(e, {
        timezone: this.options.timezone,
        ...this.options.misfire,
      });
      if (names.has(definition.name)) {
        throw new CeleriacError(
          ErrorCodes.INVALID_SCHEDULE,
          `two beat entries are named "${definition.name}": entry names must be unique`,
          {
            details: { field: 'name', option: 'name', value: definition.name },
          },
        );
      }
      names.add(definition.name);
    }
  }

  get state(): BeatState {
    return this.#state;
  }

  get role(): BeatRole {
    return this.#lease && this.#clock.now() < this.#validUntil ? 'leader' : 'follower';
  }

  /** Runs published by this process since it started. */
  get published(): number {
    return this.#published;
  }

  /** Writes the configured entries to the store (without starting the loop). */
  syncEntries(): Promise<UpsertResult[]> {
    return this.entries.sync(this.#config);
  }

  /** Syncs the configured entries and starts the loop in the background. */
  async start(): Promise<void> {
    if (this.#state !== 'idle')
      throw new CeleriacError(ErrorCodes.CLOSED, `this beat cannot start: it is ${this.#state}`);
    this.#state = 'starting';
    try {
      const results = await this.syncEntries();
      const changed = results.filter((r) => r.status !== 'unchanged');
      this.#logger.info(
        {
          entries: this.#config.length,
          changed: changed.map((r) => `${r.name}:${r.status}`),
          lockTtlMs: this.options.lockTtlMs,
        },
        'beat: starting',
      );
    } catch (err) {
      this.#state = 'stopped';
      throw err;
    }
    this.#state = 'running';
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (this.#state === 'running') {
      let sleepMs: number;
      try {
        sleepMs = (await this.tick()).sleepMs;
      } catch (err) {
        this.#logger.error({ err }, 'beat: loop failed; retrying');
        sleepMs = Math.min(1000, this.options.maxLoopIntervalMs);
      }
      if (this.#state !== 'running') break;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, Math.max(0, sleepMs));
      });
      this.#wake = undefined;
    }
  }

  /**
   * One iteration: take or renew the lock; as leader, republish stale pending runs and enqueue
   * every due run. Resolves with how long to sleep before the next tick.
   */
  async tick(): Promise<TickReport> {
    const now = this.#clock.now();
    if (!(await this.#lead(now))) {
      return { role: 'follower', published: 0, sleepMs: this.#followerSleepMs };
    }
    let published = await this.#recover(now);
    published += await this.#dispatchDue(now);
    const after = this.#clock.now();
    let wakeAt = Math.min(after + this.options.maxLoopIntervalMs, this.#renewAt);
    const nextDue = await this.store.nextDueAt();
    if (nextDue !== undefined) wakeAt = Math.min(wakeAt, nextDue);
    return { role: this.role, published, sleepMs: Math.max(0, wakeAt - after) };
  }

  async #lead(now: number): Promise<boolean> {
    const ttl = this.options.lockTtlMs;
    if (this.#lease && now < this.#renewAt && now < this.#validUntil) return true;
    if (this.#lease) {
      let renewed: boolean;
      try {
        renewed = await this.store.renewLeadership(this.#lease, ttl, now);
      } catch (err) {
        this.#logger.error({ err }, 'beat: cannot renew the leader lock');
        this.#followerSleepMs = Math.min(1000, ttl / 4);
        return now < this.#validUntil;
      }
      if (renewed) {
        this.#leaseFrom(now);
        return true;
      }
      this.#logger.warn({ fence: this.#lease.fence }, 'beat: lost the leader lock; following');
      this.#lease = undefined;
    }
    let result;
    try {
      result = await this.store.acquireLeadership(this.options.id, ttl, now);
    } catch (err) {
      this.#logger.error({ err }, 'beat: cannot reach the schedule store for the leader lock');
      this.#followerSleepMs = Math.min(1000, ttl / 4);
      return false;
    }
    if (result.acquired) {
      const wasLeader = this.#lease !== undefined;
      this.#lease = result.lease;
      this.#leaseFrom(now);
      if (!wasLeader) {
        this.#logger.info({ fence: result.lease.fence }, 'beat: leader');
        this.#nextRecoveryAt = 0;
      }
      return true;
    }
    // Wake when the holder's lock would expire, so a dead leader is replaced within its TTL.
    this.#followerSleepMs = Math.max(5, Math.min(result.ttlMs + 5, ttl));
    return false;
  }

  #leaseFrom(sentAt: number): void {
    const ttl = this.options.lockTtlMs;
    // The lock was set no earlier than `sentAt`; stop trusting it a little before it expires.
    this.#validUntil = sentAt + ttl * 0.9;
    this.#renewAt = sentAt + ttl / 3;
  }

  async #dispatchDue(now: number): Promise<number> {
    // Claims go batch by batch; publishes of a claimed batch run while the next is claimed.
    const sends: Promise<RunRef | undefined>[] = [];
    for (let round = 0; round < 20; round++) {
      const lease = this.#lease;
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
          this.#lease = undefined;
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
    const log = this.#logger;
    if (plan.coalesced > 0)
      log.info(
        { entry: d.name, coalesced: plan.coalesced, kept: plan.dispatch.map(iso) },
        'beat: coalesced missed runs into one',
      );
    if (plan.dropped > 0)
      log.warn(
        { entry: d.name, dropped: plan.dropped, limit: d.catchUpLimit },
        'beat: catch-up limit reached; skipped the oldest missed runs',
      );
    if (plan.misfired.length > 0) {
      log.warn(
        { entry: d.name, skipped: plan.misfired.map(iso), misfireGraceTime: d.misfireGraceTime },
        'beat: skipped runs later than misfireGraceTime',
      );
    }
    if (plan.truncated)
      log.warn({ entry: d.name }, 'beat: more missed runs than can be walked; skipped to now');
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
      if (this.#clock.now() >= this.#validUntil) {
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

  remove(name: string): Promise<boolean> {
    return this.entries.remove(name);
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
   * Stops the loop, waits for runs being published, and gives up the lock so another beat
   * takes over at once. Idempotent; closes the store only if the beat created it.
   */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') {
      await this.#loop;
      return;
    }
    this.#state = 'stopping';
    if (this.#timer) clearTimeout(this.#timer);
    this.#wake?.();
    await this.#loop;
    if (this.#lease) {
      const lease = this.#lease;
      this.#lease = undefined;
      await this.store
        .releaseLeadership(lease)
        .catch((err: unknown) =>
          this.#logger.warn({ err }, 'beat: releasing the leader lock failed'),
        );
    }
    if (this.#ownsStore) await this.store.close();
    this.#state = 'stopped';
    this.#logger.info({ published: this.#published }, 'beat: stopped');
  }

  /** Same as `stop()`. */
  close(): Promise<void> {
    return this.stop();
  }
}

function iso(t: number): string {
  return new Date(t).toISOString();
}
