import { optionChecks, optionTypes as t, type OptionType } from '@celeriac/core/internal';
import type { Clock, Logger } from '@celeriac/core';
import type { ScheduleStore } from '../store/schedule-store.js';
import type { JobDefaults } from './job.js';
import { DEFAULTS_SPEC } from './job-options.js';

/** Options of `new Scheduler()`. Unknown keys are refused (`CELERIAC_ERR_INVALID_OPTION`). */
export interface SchedulerOptions {
  /**
   * Where jobs and their state live. The default keeps them in this process. A Redis, SQLite
   * or PostgreSQL store shares them between processes: one runs the due jobs at a time (the
   * beat leader lock), so every process must register each job's function under its id
   * (`addJob(fn, trigger, { id, replaceExisting: true })`). @default a new `MemoryScheduleStore`
   */
  store?: ScheduleStore;
  /** Time zone of wall-clock schedules that name none. @default the system's time zone */
  timezone?: string;
  /** Defaults of every job (APScheduler's `job_defaults`). @default `{ maxInstances: 1, coalesce: true, misfireGraceTime: null }` */
  jobDefaults?: JobDefaults;
  /** @default the system clock */
  clock?: Clock;
  /** @default silent */
  logger?: Logger;
  /** This process's name in the leader lock and logs. @default `<hostname>:<pid>:<random>` */
  id?: string;
  /** Seconds the leader lock lives without renewal (shared stores). @default 10 */
  lockTtl?: number;
  /** Longest sleep of the background loop between two looks at the store. @default 1 */
  maxLoopInterval?: number;
}

const SCHEDULER_SPEC = {
  store: { expected: 'a ScheduleStore', test: (v) => typeof v === 'object' && v !== null },
  timezone: t.nonEmptyString,
  jobDefaults: t.object,
  clock: t.object,
  logger: t.object,
  id: t.nonEmptyString,
  lockTtl: t.range(0.5, 3600, false, 'seconds'),
  maxLoopInterval: t.range(0.01, 300, false, 'seconds'),
} as const satisfies { readonly [K in keyof Required<SchedulerOptions>]: OptionType };

/** Checks the options (unknown keys are refused) and returns the job defaults, applied. */
export function compileJobDefaults(options: SchedulerOptions): Required<JobDefaults> {
  const checks = optionChecks('Scheduler');
  checks.strict(options, SCHEDULER_SPEC);
  checks.strict(options.jobDefaults, DEFAULTS_SPEC, { prefix: 'jobDefaults.' });
  const d = options.jobDefaults ?? {};
  return {
    maxInstances: d.maxInstances === undefined ? 1 : d.maxInstances,
    coalesce: d.coalesce ?? true,
    misfireGraceTime: d.misfireGraceTime === undefined ? null : d.misfireGraceTime,
  };
}
