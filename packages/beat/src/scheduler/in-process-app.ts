import { CeleriacError, ErrorCodes, type Clock, type Logger } from '@celeriac/core';
import type { ApplyOptions } from '@celeriac/client';
import type { BeatApp } from '../beat.js';
import type { RunFailure, RunOutcome } from '../events.js';
import type { LocalJob } from './job.js';
import type { SchedulerEvents } from './scheduler-events.js';

/** Finished runs remembered per job, for `runOutcomes` (beat asks about the last 16). */
const OUTCOMES_KEPT = 32;

/** One run: what `runOutcomes` and `maxInstances` look at. */
interface Run {
  readonly jobId: string;
  readonly done: Promise<void>;
}

/** What a run needs to be started. */
export interface RunRequest {
  readonly jobId: string;
  readonly runId: string;
  readonly scheduledAt: number;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  /**
   * Checked here only for runs beat does not dispatch (`runAll()`): beat skips a due run over
   * the job's `maxInstances` before it calls `sendTask` (it counts through `runOutcomes`).
   */
  readonly maxInstances?: number | null;
}

/**
 * The app a scheduler's `Beat` publishes to: instead of sending a message, `sendTask` calls
 * the job's function in this process. Beat's headers name the job (`beat_entry`) and the
 * run's scheduled time; the run's id is beat's task id. It keeps what became of each run, so
 * beat's `maxInstances` (through `runOutcomes`) counts the runs still going.
 */
export class InProcessApp implements BeatApp {
  readonly logger: Logger;
  readonly clock: Clock;
  readonly #lookup: (jobId: string) => LocalJob | undefined;
  readonly #events: SchedulerEvents;
  readonly #running = new Map<string, Run>();
  readonly #outcomes = new Map<string, RunOutcome>();
  /** Run ids of each job's finished runs, oldest first (what `#outcomes` keeps). */
  readonly #finished = new Map<string, string[]>();
  readonly #collectors = new Set<Promise<void>[]>();

  constructor(options: {
    logger: Logger;
    clock: Clock;
    events: SchedulerEvents;
    lookup: (jobId: string) => LocalJob | undefined;
  }) {
    this.logger = options.logger;
    this.clock = options.clock;
    this.#events = options.events;
    this.#lookup = options.lookup;
  }

  sendTask(
    name: string,
    args: readonly unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: ApplyOptions = {},
  ): { readonly published: Promise<void> } {
    const entry = options.headers?.['beat_entry'];
    const jobId = typeof entry === 'string' ? entry : name;
    const when = options.headers?.['beat_scheduled_at'];
    const at = typeof when === 'string' ? Date.parse(when) : Number.NaN;
    const runId = options.taskId ?? `${jobId}@${at}`;
    void this.run({
      jobId,
      runId,
      scheduledAt: Number.isNaN(at) ? this.clock.now() : at,
      args,
      kwargs,
    });
    // The run is under way: for beat it is "published" (its completion is `executed`/`error`).
    return { published: Promise.resolve() };
  }

  /**
   * Starts a run unless its job is at `maxInstances` or has no function here (then an event
   * says so). Resolves when the run has finished, or at once when it did not start.
   */
  run(req: RunRequest): Promise<void> {
    const { jobId, runId } = req;
    const scheduledAt = new Date(req.scheduledAt);
    const info = { jobId, runId, scheduledAt };
    const job = this.#lookup(jobId);
    const log = { job: jobId, runId, scheduledAt: scheduledAt.toISOString() };
    if (!job) {
      const error = new CeleriacError(
        ErrorCodes.UNKNOWN_TASK,
        `job "${jobId}" is due, but no function is registered for it in this process: call scheduler.addJob(fn, trigger, { id: '${jobId}', replaceExisting: true }) in every process that shares the store`,
        { details: { job: jobId } },
      );
      this.logger.error({ ...log, err: error }, 'scheduler: a due job has no function here');
      this.#finish(jobId, runId, { state: 'failed', error: failureOf(error) });
      this.#events.emit('error', { ...info, error, durationMs: 0 });
      return Promise.resolve();
    }
    const max = req.maxInstances ?? null;
    const running = this.runningCount(jobId);
    if (max !== null && running >= max) {
      this.logger.warn(
        { ...log, running, maxInstances: max },
        'scheduler: run skipped: maximum number of running instances reached',
      );
      this.#events.emit('maxInstances', { ...info, running, maxInstances: max });
      return Promise.resolve();
    }
    const call = Object.keys(req.kwargs).length > 0 ? [...req.args, req.kwargs] : [...req.args];
    const started = this.clock.now();
    this.#events.emit('submitted', info);
    const done = Promise.resolve()
      .then(() => (job.fn as (...a: unknown[]) => unknown)(...call))
      .then(
        (result) => {
          this.#finish(jobId, runId, { state: 'succeeded', result });
          this.#events.emit('executed', {
            ...info,
            result,
            durationMs: this.clock.now() - started,
          });
        },
        (error: unknown) => {
          this.logger.error({ ...log, err: error }, 'scheduler: a job failed');
          this.#finish(jobId, runId, { state: 'failed', error: failureOf(error) });
          this.#events.emit('error', { ...info, error, durationMs: this.clock.now() - started });
        },
      );
    this.#running.set(runId, { jobId, done });
    for (const c of this.#collectors) c.push(done);
    return done;
  }

  #finish(jobId: string, runId: string, outcome: RunOutcome): void {
    this.#running.delete(runId);
    this.#outcomes.set(runId, outcome);
    let ids = this.#finished.get(jobId);
    if (!ids) this.#finished.set(jobId, (ids = []));
    ids.push(runId);
    if (ids.length > OUTCOMES_KEPT) this.#outcomes.delete(ids.shift() as string);
  }

  /** Runs of a job going now. */
  runningCount(jobId: string): number {
    let n = 0;
    for (const r of this.#running.values()) if (r.jobId === jobId) n++;
    return n;
  }

  runOutcomes(taskIds: readonly string[]): Promise<RunOutcome[]> {
    return Promise.resolve(
      taskIds.map((id): RunOutcome =>
        this.#running.has(id)
          ? { state: 'pending' }
          : (this.#outcomes.get(id) ?? { state: 'gone' }),
      ),
    );
  }

  /** Calls `body` and also resolves with the runs it started. */
  async collect<T>(body: () => Promise<T>): Promise<[T, Promise<void>[]]> {
    const started: Promise<void>[] = [];
    this.#collectors.add(started);
    try {
      return [await body(), started];
    } finally {
      this.#collectors.delete(started);
    }
  }

  /** Forgets what is known of a removed job's runs. */
  forget(jobId: string): void {
    for (const id of this.#finished.get(jobId) ?? []) this.#outcomes.delete(id);
    this.#finished.delete(jobId);
  }

  /** Resolves when every run going now has finished. */
  async drain(): Promise<void> {
    while (this.#running.size > 0)
      await Promise.all([...this.#running.values()].map((r) => r.done));
  }

  get running(): number {
    return this.#running.size;
  }
}

function failureOf(error: unknown): RunFailure {
  if (error instanceof Error)
    return {
      type: error.name,
      message: error.message,
      ...(error.stack === undefined ? {} : { traceback: error.stack }),
    };
  return { type: typeof error, message: String(error) };
}
