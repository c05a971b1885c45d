import { randomUUID } from 'node:crypto';
import { CeleriacError, ErrorCodes, silentLogger, systemClock, type Clock } from '@celeriac/core';
import { optionChecks, optionTypes as t } from '@celeriac/core/internal';
import { Beat } from '../beat.js';
import type { BeatEntry, StoredEntry } from '../entry.js';
import type { Schedule } from '../schedules/schedule.js';
import { checkTimeZone } from '../schedules/wall-clock.js';
import { MemoryScheduleStore } from '../store/memory-schedule-store.js';
import type { NextRun, UpsertMode } from '../store/schedule-store.js';
import { bindEvery, type SchedulerEveryBuilder } from './every-binder.js';
import { InProcessApp } from './in-process-app.js';
import {
  Job,
  type AddJobOptions,
  type JobChanges,
  type JobDefaults,
  type JobFunction,
  type JobOwner,
  type LocalJob,
} from './job.js';
import {
  CHANGES_SPEC,
  conflict,
  entryOf,
  JOB_SPEC,
  jobEntry,
  localTimeZone,
  missingFunction,
  modifiedEntry,
  randomJobId,
  writeJob,
  zoneOf,
  type JobOptionValues,
} from './job-options.js';
import { PendingWrites } from './pending-writes.js';
import { compileJobDefaults, type SchedulerOptions } from './scheduler-options.js';
import {
  forwardBeatEvents,
  SchedulerEvents,
  type SchedulerEventName,
  type SchedulerListener,
} from './scheduler-events.js';
import {
  resolveTrigger,
  type CronTriggerOptions,
  type DateTriggerOptions,
  type IntervalTriggerOptions,
  type TriggerName,
  type TriggerOptions,
} from './triggers.js';

export type { SchedulerOptions } from './scheduler-options.js';

/**
 * `idle` (jobs may be added; `runPending()` drives it) → `running` (after `start()`: a
 * background loop runs due jobs) → `shuttingDown` → `shutdown` (for good).
 */
export type SchedulerState = 'idle' | 'running' | 'shuttingDown' | 'shutdown';

/**
 * Runs plain functions on schedules in this process, with no broker: APScheduler's
 * `BackgroundScheduler` / `AsyncIOScheduler` and the `schedule` library. It is a `Beat` whose
 * app calls the job's function instead of publishing a task, so triggers, misfires,
 * `coalesce`, `maxInstances`, the store and the leader lock are beat's. See docs/scheduler.md.
 *
 * @example
 * ```ts
 * const scheduler = new Scheduler({ timezone: 'Europe/London' });
 * scheduler.every(10).minutes().do(job);
 * await scheduler.addJob(report, 'cron', { dayOfWeek: 'mon-fri', hour: 5, minute: 30 });
 * scheduler.on('error', (e) => console.error(e.jobId, e.error));
 * await scheduler.start();
 * process.once('SIGTERM', () => void scheduler.shutdown());
 * ```
 */
export class Scheduler implements JobOwner {
  /** The beat underneath (its store, its entries). */
  readonly beat: Beat;
  readonly timezone: string;
  readonly #app: InProcessApp;
  readonly #events: SchedulerEvents;
  readonly #clock: Clock;
  readonly #defaults: Required<JobDefaults>;
  readonly #shared: boolean;
  readonly #local = new Map<string, LocalJob>();
  readonly #writes = new PendingWrites();
  #state: SchedulerState = 'idle';
  #closing: Promise<void> | undefined;

  constructor(options: SchedulerOptions = {}) {
    this.#defaults = compileJobDefaults(options);
    this.#clock = options.clock ?? systemClock;
    const logger = (options.logger ?? silentLogger).child({ component: 'scheduler' });
    this.timezone = checkTimeZone(options.timezone ?? localTimeZone());
    this.#events = new SchedulerEvents(logger);
    this.#app = new InProcessApp({
      logger,
      clock: this.#clock,
      events: this.#events,
      lookup: (id) => this.#local.get(id),
    });
    this.#shared = options.store !== undefined && !(options.store instanceof MemoryScheduleStore);
    const { store, id, lockTtl, maxLoopInterval } = options;
    this.beat = new Beat(this.#app, {
      ...(store === undefined ? {} : { store }),
      ...(id === undefined ? {} : { id }),
      ...(lockTtl === undefined ? {} : { lockTtl }),
      ...(maxLoopInterval === undefined ? {} : { maxLoopInterval }),
      timezone: this.timezone,
      clock: this.#clock,
      logger,
    });
    forwardBeatEvents(this.beat, this.#events);
  }

  get state(): SchedulerState {
    return this.#state;
  }

  /** Runs going now. */
  get running(): number {
    return this.#app.running;
  }

  on<K extends SchedulerEventName>(name: K, listener: SchedulerListener<K>): this {
    this.#events.on(name, listener);
    return this;
  }

  off<K extends SchedulerEventName>(name: K, listener: SchedulerListener<K>): this {
    this.#events.off(name, listener);
    return this;
  }

  /** The `schedule` library's `every(10).minutes.do(job)`: `scheduler.every(10).minutes().do(job)`. */
  every(interval?: number): SchedulerEveryBuilder {
    return bindEvery(interval, (schedule, fn, args, tags) =>
      this.#writes.trackMaybeUnawaited(this.#add(fn, schedule, { args, tags })),
    );
  }

  /**
   * Adds a job: `fn(...args)` on `trigger`, a schedule (`interval()`, `crontab()`, `cron()`,
   * `oneOff()`, `every()`, `solar()`) or APScheduler's trigger name with its fields in
   * `options` (`addJob(fn, 'interval', { minutes: 2 })`). Resolves with the job once stored.
   */
  addJob<A extends readonly unknown[]>(
    fn: JobFunction<A>,
    trigger: Schedule,
    options?: NoInfer<AddJobOptions<A>>,
  ): Promise<Job>;
  addJob<A extends readonly unknown[]>(
    fn: JobFunction<A>,
    trigger: 'interval',
    options: NoInfer<AddJobOptions<A> & IntervalTriggerOptions>,
  ): Promise<Job>;
  addJob<A extends readonly unknown[]>(
    fn: JobFunction<A>,
    trigger: 'cron',
    options: NoInfer<AddJobOptions<A> & CronTriggerOptions>,
  ): Promise<Job>;
  addJob<A extends readonly unknown[]>(
    fn: JobFunction<A>,
    trigger: 'date',
    options?: NoInfer<AddJobOptions<A> & DateTriggerOptions>,
  ): Promise<Job>;
  addJob(fn: JobFunction, trigger: Schedule | TriggerName, options: object = {}): Promise<Job> {
    return this.#writes.track(this.#add(fn, trigger, options as Record<string, unknown>));
  }

  /**
   * APScheduler's `@scheduler.scheduled_job(trigger, ...)`: `scheduledJob(trigger, options)(fn)`
   * adds the job and returns `fn`. A failure to add it is thrown by the next `start()`,
   * `runPending()` or `getJobs()`.
   */
  scheduledJob(
    trigger: Schedule | TriggerName,
    options: AddJobOptions & TriggerOptions = {},
  ): <F extends JobFunction<never>>(fn: F) => F {
    return (fn) => {
      this.#writes.defer(this.#add(fn, trigger, options as Record<string, unknown>));
      return fn;
    };
  }

  #assertOpen(what: string): void {
    if (this.#state === 'shuttingDown' || this.#state === 'shutdown') {
      throw new CeleriacError(
        ErrorCodes.INVALID_STATE,
        `cannot ${what}: the scheduler is ${this.#state}; build a new Scheduler`,
        { details: { state: this.#state } },
      );
    }
  }

  async #add(
    fn: JobFunction<never>,
    trigger: Schedule | TriggerName,
    options: Record<string, unknown>,
  ): Promise<Job> {
    this.#assertOpen('add a job');
    if (typeof fn !== 'function')
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `scheduler.addJob needs a function, got ${typeof fn}`,
        { details: { option: 'fn', value: fn } },
      );
    const { schedule, rest } = resolveTrigger(trigger, options, this.#clock.now());
    optionChecks('scheduler.addJob').strict(rest, JOB_SPEC);
    const o = rest as JobOptionValues;
    if (o.id === undefined && this.#shared)
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        'scheduler.addJob option "id" is required with a shared store: every process registers the function under that id',
        { details: { option: 'id' } },
      );
    const id = o.id ?? randomJobId();
    if (!o.replaceExisting && this.#local.has(id)) throw conflict(id);
    const entry = jobEntry(id, o.name ?? (fn.name || id), schedule, o, this.#defaults);
    const previous = this.#local.get(id);
    this.#local.set(id, { fn, tags: new Set(o.tags ?? []) });
    try {
      const status = await this.#write(entry, o.replaceExisting ? 'sync' : 'create');
      if (status !== 'unchanged')
        this.beat.events.emit(status === 'created' ? 'added' : 'modified', { entry: id });
    } catch (err) {
      if (previous) this.#local.set(id, previous);
      else this.#local.delete(id);
      throw err;
    }
    return this.#job(id);
  }

  #write(
    entry: BeatEntry,
    mode: UpsertMode,
    keep: { next?: NextRun; enabled?: boolean } = {},
  ): Promise<'created' | 'updated' | 'unchanged'> {
    return writeJob(this.beat.store, entry, mode, {
      timezone: this.timezone,
      now: this.#clock.now(),
      ...keep,
    });
  }

  /** The job as stored now (without waiting for other writes: an add calls it). */
  async #job(id: string): Promise<Job> {
    const entry = await this.beat.store.get(id);
    const job = entry ? this.#toJob(entry) : undefined;
    if (!job)
      throw new CeleriacError(
        ErrorCodes.INVALID_STATE,
        `job "${id}" vanished right after it was written`,
      );
    return job;
  }

  #toJob(entry: StoredEntry): Job {
    return new Job(this, entry, this.#local.get(entry.definition.name));
  }

  async getJob(id: string): Promise<Job | undefined> {
    await this.#writes.settled();
    const entry = await this.beat.store.get(id);
    return entry ? this.#toJob(entry) : undefined;
  }

  /** The jobs (with `tag`, those tagged so), soonest first, paused and finished ones last. */
  async getJobs(tag?: string): Promise<Job[]> {
    await this.#writes.settled();
    const jobs = (await this.beat.store.list()).map((e) => this.#toJob(e));
    const at = (j: Job): number => j.nextRunTime?.getTime() ?? Infinity;
    return jobs
      .filter((j) => tag === undefined || j.tags.includes(tag))
      .sort((a, b) => at(a) - at(b) || a.id.localeCompare(b.id));
  }

  /** Removes a job (APScheduler's `remove_job`, the `schedule` library's `cancel_job`). */
  async removeJob(job: string | Job): Promise<boolean> {
    await this.#writes.settled();
    const id = typeof job === 'string' ? job : job.id;
    const removed = await this.beat.entries.remove(id);
    this.#local.delete(id);
    this.#app.forget(id);
    return removed;
  }

  /** Removes every job, or those tagged `tag` (the `schedule` library's `clear`). */
  async clear(tag?: string): Promise<number> {
    let n = 0;
    for (const job of await this.getJobs(tag)) if (await this.removeJob(job.id)) n++;
    return n;
  }

  async pauseJob(id: string): Promise<boolean> {
    await this.#writes.settled();
    const paused = await this.beat.entries.pause(id);
    return paused;
  }

  /** Resumes a paused job from now: runs missed while it was paused are skipped. */
  async resumeJob(id: string): Promise<boolean> {
    await this.#writes.settled();
    const resumed = await this.beat.entries.resume(id);
    return resumed;
  }

  /** Changes a job's function, name, args or policy; its schedule and next run stay. */
  async modifyJob(id: string, changes: JobChanges): Promise<Job | undefined> {
    optionChecks('scheduler.modifyJob').strict(changes, CHANGES_SPEC);
    await this.#writes.settled();
    const stored = await this.beat.store.get(id);
    if (!stored) return undefined;
    const local = this.#local.get(id);
    if (changes.fn !== undefined || changes.tags !== undefined)
      this.#local.set(id, {
        fn: changes.fn ?? local?.fn ?? missingFunction(id),
        tags: changes.tags === undefined ? (local?.tags ?? new Set()) : new Set(changes.tags),
      });
    const edit = modifiedEntry(stored, changes, this.timezone);
    if (edit) await this.#write(edit.entry, 'replace', edit.keep);
    this.beat.events.emit('modified', { entry: id });
    return this.#job(id);
  }

  /** Gives a job a new trigger; its next run is computed from now. */
  async rescheduleJob(
    id: string,
    trigger: Schedule | TriggerName,
    options: TriggerOptions = {},
  ): Promise<Job | undefined> {
    await this.#writes.settled();
    const stored = await this.beat.store.get(id);
    if (!stored) return undefined;
    const { schedule, rest } = resolveTrigger(
      trigger,
      options as Readonly<Record<string, unknown>>,
      this.#clock.now(),
    );
    optionChecks('scheduler.rescheduleJob').strict(rest, { timezone: t.nonEmptyString });
    const entry = entryOf(stored.definition, schedule);
    const tz = (rest['timezone'] as string | undefined) ?? zoneOf(stored.definition.schedule);
    await this.#write({ ...entry, ...(tz === undefined ? {} : { timezone: tz }) }, 'replace', {
      enabled: stored.state.enabled,
    });
    this.beat.events.emit('modified', { entry: id });
    return this.#job(id);
  }

  /** Starts the background loop, which runs each job when it is due. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') {
      throw new CeleriacError(
        ErrorCodes.INVALID_STATE,
        `this scheduler cannot start: it is ${this.#state}`,
        { details: { state: this.#state } },
      );
    }
    this.#state = 'running';
    await this.#writes.settled();
    await this.beat.start();
    this.#events.emit('started', {});
  }

  /**
   * Runs the jobs that are due now and resolves, with how many started, when they have
   * finished: the `schedule` library's `run_pending()`, for a program that drives its own
   * loop. With `wait: false` it resolves once they have started.
   */
  async runPending(options: { wait?: boolean } = {}): Promise<number> {
    optionChecks('scheduler.runPending').strict(options, { wait: t.boolean });
    this.#assertOpen('run pending jobs');
    await this.#writes.settled();
    const [, runs] = await this.#app.collect(() => this.beat.tick());
    if (options.wait ?? true) await Promise.all(runs);
    return runs.length;
  }

  /**
   * Runs every job now, whatever its schedule, and resolves with how many ran when they have
   * finished (the `schedule` library's `run_all()`). Schedules are not changed; paused jobs and
   * jobs without a function in this process are left out; `maxInstances` applies.
   */
  async runAll(): Promise<number> {
    this.#assertOpen('run jobs');
    const jobs = (await this.getJobs()).filter((j) => !j.paused && j.fn !== undefined);
    const now = this.#clock.now();
    const [, runs] = await this.#app.collect(() =>
      Promise.resolve(
        jobs.map((j) =>
          this.#app.run({
            jobId: j.id,
            runId: randomUUID(),
            scheduledAt: now,
            args: j.args,
            kwargs: j.kwargs,
            maxInstances: j.maxInstances,
          }),
        ),
      ),
    );
    await Promise.all(runs);
    return runs.length;
  }

  /** When the next job is due (the `schedule` library's `next_run`); undefined with none. */
  async nextRun(): Promise<Date | undefined> {
    await this.#writes.settled();
    const at = await this.beat.store.nextDueAt();
    return at === undefined ? undefined : new Date(at);
  }

  /** Seconds until the next job is due, negative when one is late (`idle_seconds`). */
  async idleSeconds(): Promise<number | undefined> {
    const next = await this.nextRun();
    return next === undefined ? undefined : (next.getTime() - this.#clock.now()) / 1000;
  }

  /**
   * Stops the loop and, with `wait` (the default), waits for the runs going to finish.
   * Idempotent; a scheduler that was shut down never starts again.
   */
  async shutdown(options: { wait?: boolean } = {}): Promise<void> {
    optionChecks('scheduler.shutdown').strict(options, { wait: t.boolean });
    const wait = options.wait ?? true;
    this.#closing ??= this.#close(wait);
    await this.#closing;
    if (wait) await this.#app.drain();
  }

  async #close(wait: boolean): Promise<void> {
    this.#state = 'shuttingDown';
    await this.#writes.settled({ rethrow: false });
    await this.beat.close();
    if (wait) await this.#app.drain();
    this.#state = 'shutdown';
    this.#events.emit('shutdown', {});
  }
}
