import { instanceLimits, type StoredEntry } from '../entry.js';
import type { DateInput } from '../schedules/common.js';
import { scheduleFromJSON, type Schedule } from '../schedules/schedule.js';
import type { TriggerName, TriggerOptions } from './triggers.js';

/**
 * A job's function: called with the job's `args` (and, when `kwargs` has keys, `kwargs` as one
 * more, last argument). It may be sync or async; a throw or a rejection is an `error` event.
 */
export type JobFunction<A extends readonly unknown[] = never[]> = (...args: A) => unknown;

/** `A`, or `A` without its last element (the parameter `kwargs` fills). */
export type JobArgs<A extends readonly unknown[]> =
  A | (A extends readonly [...infer Init, unknown] ? Init : never);

/** What a job's runs may do, with APScheduler's meaning (`job_defaults`). */
export interface JobDefaults {
  /**
   * Most runs of the job going at once (1..16); a due run beyond it is skipped with a
   * `maxInstances` event. `null`: no limit. @default 1
   */
  maxInstances?: number | null;
  /** Run several missed runs once, the latest. `false`: each of them. @default true */
  coalesce?: boolean;
  /**
   * Seconds a run may be late and still run; a later one is skipped with a `missed` event.
   * `null`: any lateness (APScheduler 3 defaults to 1 s; the `schedule` library has no limit).
   * @default null
   */
  misfireGraceTime?: number | null;
}

/** Options of `scheduler.addJob()`: APScheduler's `add_job` keyword arguments. */
export interface AddJobOptions<
  A extends readonly unknown[] = readonly unknown[],
> extends JobDefaults {
  /**
   * The job's unique id (the entry's name in the store). Needed with a shared store, where each
   * process registers the function under the same id. @default a random 32-digit hex id
   */
  id?: string;
  /** A readable name, for logs and `getJobs()`. @default the function's name, else the id */
  name?: string;
  /** Arguments of each call; JSON-serializable (they are stored). @default [] */
  args?: JobArgs<A>;
  /** Passed as one more, last argument when it has keys; JSON-serializable. @default none */
  kwargs?: Record<string, unknown>;
  /** Delay each run by up to this many seconds (interval, crontab and cron schedules). @default 0 */
  jitter?: number;
  /** No run before this time (interval, crontab, cron). @default none */
  startDate?: DateInput;
  /** No run after this time (interval, crontab, cron, every). @default none */
  endDate?: DateInput;
  /** IANA time zone of a wall-clock schedule that names none. @default the scheduler's */
  timezone?: string;
  /**
   * Replace a job with this id, if any (keeping its next run when nothing changed, so a
   * restarted process re-adding its jobs does not reset them). `false`: such a job is an
   * error. @default false
   */
  replaceExisting?: boolean;
  /** Add the job paused (APScheduler's `next_run_time=None`). @default false */
  paused?: boolean;
  /** Labels for `getJobs(tag)` and `clear(tag)` (the `schedule` library's tags). @default [] */
  tags?: readonly string[];
}

/** What `modifyJob` may change; the schedule and the next run stay. */
export interface JobChanges extends JobDefaults {
  name?: string;
  fn?: JobFunction;
  args?: readonly unknown[];
  kwargs?: Record<string, unknown>;
  tags?: readonly string[];
}

/** What a `Job` asks of its scheduler (an interface, so job.ts does not import the scheduler). */
export interface JobOwner {
  pauseJob(id: string): Promise<boolean>;
  resumeJob(id: string): Promise<boolean>;
  removeJob(id: string): Promise<boolean>;
  modifyJob(id: string, changes: JobChanges): Promise<Job | undefined>;
  rescheduleJob(
    id: string,
    trigger: Schedule | TriggerName,
    options?: TriggerOptions,
  ): Promise<Job | undefined>;
}

/** The parts of a job that live in this process only: its function and tags. */
export interface LocalJob {
  fn: JobFunction;
  tags: ReadonlySet<string>;
}

/**
 * A job as the store holds it, read when it was returned (APScheduler's `Job`): its fields
 * do not change afterwards; call `scheduler.getJob(id)` for a fresh one.
 */
export class Job {
  readonly id: string;
  readonly name: string;
  readonly schedule: Schedule;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  /** When it runs next; null when paused or when the schedule has no more runs. */
  readonly nextRunTime: Date | null;
  /** Scheduled time of its last run, if any. */
  readonly lastRunTime: Date | null;
  readonly runCount: number;
  readonly paused: boolean;
  readonly coalesce: boolean;
  readonly misfireGraceTime: number | null;
  readonly maxInstances: number | null;
  readonly tags: readonly string[];
  /** The function registered in this process, if any (with a shared store, another may have it). */
  readonly fn: JobFunction | undefined;
  readonly #owner: JobOwner;

  constructor(owner: JobOwner, entry: StoredEntry, local: LocalJob | undefined) {
    const { definition: d, state } = entry;
    this.#owner = owner;
    this.id = d.name;
    this.name = d.task;
    this.schedule = scheduleFromJSON(d.schedule);
    this.args = d.args;
    this.kwargs = d.kwargs;
    this.nextRunTime = state.enabled && state.nextRunAt !== null ? new Date(state.nextRunAt) : null;
    this.lastRunTime = state.lastRunAt === null ? null : new Date(state.lastRunAt);
    this.runCount = state.totalRunCount;
    this.paused = !state.enabled;
    this.coalesce = d.coalesce && !d.catchUp;
    this.misfireGraceTime = d.misfireGraceTime;
    this.maxInstances = instanceLimits(d).max;
    this.tags = [...(local?.tags ?? [])];
    this.fn = local?.fn;
  }

  pause(): Promise<boolean> {
    return this.#owner.pauseJob(this.id);
  }

  resume(): Promise<boolean> {
    return this.#owner.resumeJob(this.id);
  }

  remove(): Promise<boolean> {
    return this.#owner.removeJob(this.id);
  }

  modify(changes: JobChanges): Promise<Job | undefined> {
    return this.#owner.modifyJob(this.id, changes);
  }

  reschedule(trigger: Schedule | TriggerName, options?: TriggerOptions): Promise<Job | undefined> {
    return this.#owner.rescheduleJob(this.id, trigger, options);
  }
}
