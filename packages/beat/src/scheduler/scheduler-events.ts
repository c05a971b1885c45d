import { silentLogger, type Logger } from '@celeriac/core';
import type { Beat } from '../beat.js';
import type { MissedReason } from '../events.js';

/** What every run event says: which job, which run, and when it was scheduled. */
export interface JobRunInfo {
  readonly jobId: string;
  /** The run's id: the beat task id of (store namespace, job id, scheduled time). */
  readonly runId: string;
  /** When the run was scheduled (before jitter): APScheduler's `scheduled_run_time`. */
  readonly scheduledAt: Date;
}

/**
 * A scheduler's events, by name, with their payloads: APScheduler's `EVENT_*` constants as
 * `scheduler.on(name, listener)`. `EVENT_JOB_EXECUTED | EVENT_JOB_ERROR` is two `on` calls.
 */
export interface SchedulerEventMap {
  /** `start()` finished (`EVENT_SCHEDULER_STARTED`). */
  started: Record<string, never>;
  /** `shutdown()` finished (`EVENT_SCHEDULER_SHUTDOWN`). */
  shutdown: Record<string, never>;
  /** A run's function was called (`EVENT_JOB_SUBMITTED`). */
  submitted: JobRunInfo;
  /** A run's function returned (or its promise resolved) (`EVENT_JOB_EXECUTED`). */
  executed: JobRunInfo & { readonly result: unknown; readonly durationMs: number };
  /** A run's function threw (or its promise rejected) (`EVENT_JOB_ERROR`). The scheduler goes on. */
  error: JobRunInfo & { readonly error: unknown; readonly durationMs: number };
  /** A due run was not run (`EVENT_JOB_MISSED`): too late (`misfireGraceTime`) or merged (`coalesce`). */
  missed: { readonly jobId: string; readonly scheduledAt: Date; readonly reason: MissedReason };
  /** A due run was skipped: `maxInstances` runs were still going (`EVENT_JOB_MAX_INSTANCES`). */
  maxInstances: JobRunInfo & { readonly running: number; readonly maxInstances: number };
  added: { readonly jobId: string };
  removed: { readonly jobId: string };
  modified: { readonly jobId: string };
  paused: { readonly jobId: string };
  resumed: { readonly jobId: string };
}

export type SchedulerEventName = keyof SchedulerEventMap;
export type SchedulerListener<K extends SchedulerEventName> = (event: SchedulerEventMap[K]) => void;

/**
 * A small typed emitter, as `BeatEvents`: an `error` event nobody listens to does not throw,
 * and a listener that throws is logged and never stops the scheduler.
 */
export class SchedulerEvents {
  readonly #listeners = new Map<SchedulerEventName, Set<(event: never) => void>>();
  readonly #logger: Logger;

  constructor(logger: Logger = silentLogger) {
    this.#logger = logger;
  }

  on<K extends SchedulerEventName>(name: K, listener: SchedulerListener<K>): void {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(listener);
  }

  off<K extends SchedulerEventName>(name: K, listener: SchedulerListener<K>): void {
    this.#listeners.get(name)?.delete(listener);
  }

  emit<K extends SchedulerEventName>(name: K, event: SchedulerEventMap[K]): void {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as SchedulerListener<K>)(event);
      } catch (err) {
        this.#logger.error({ err, event: name }, 'scheduler: an event listener threw');
      }
    }
  }
}

/**
 * Beat decides about misfires, coalescing and `maxInstances`, and its entries API reports
 * edits: those events come from it. `submitted`, `executed` and `error` come from the app, at
 * the call and when the function settles (beat's own would come a poll later).
 */
export function forwardBeatEvents(beat: Beat, events: SchedulerEvents): void {
  beat.on('missed', (e) =>
    events.emit('missed', { jobId: e.entry, scheduledAt: e.scheduledAt, reason: e.reason }),
  );
  beat.on('maxInstances', (e) =>
    events.emit('maxInstances', {
      jobId: e.entry,
      runId: e.taskId,
      scheduledAt: e.scheduledAt,
      running: e.running,
      maxInstances: e.maxInstances,
    }),
  );
  for (const name of ['added', 'removed', 'modified', 'paused', 'resumed'] as const)
    beat.on(name, (e) => events.emit(name, { jobId: e.entry }));
}
