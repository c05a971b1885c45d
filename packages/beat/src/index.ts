/**
 * `@celeriac/beat`: periodic tasks, enqueued exactly once per run however many beat processes
 * run. Schedules are pure data with pure functions (`nextRunAfter(schedule, after)`); the
 * `Beat` dispatches due runs through the app under a fenced leader lock and an idempotent,
 * per-run claim in the schedule store. `RedisScheduleStore` is at `@celeriac/beat/redis`,
 * `SqliteScheduleStore` at `@celeriac/beat/sqlite`.
 *
 * @example
 * ```ts
 * import { Celeriac } from '@celeriac/client';
 * import { Beat, crontab, every, interval, nextRunAfter } from '@celeriac/beat';
 *
 * const app = new Celeriac({ broker: 'memory://' });
 * console.log(nextRunAfter(crontab('0 3 * * 1-5', { timezone: 'Europe/London' }), new Date('2025-06-06T12:00:00Z')));
 * // 2025-06-09T02:00:00.000Z (Monday 03:00 BST)
 *
 * const beat = new Beat(app, {
 *   entries: [
 *     { name: 'reports', task: 'reports.nightly', schedule: crontab('0 3 * * *'), timezone: 'Europe/London' },
 *     { name: 'ping', task: 'ops.ping', schedule: every(30).seconds() },
 *     { name: 'sync', task: 'sync.all', schedule: interval({ minutes: 5 }), options: { queue: 'sync', expires: 240 } },
 *   ],
 * });
 * await beat.start();
 * // …
 * await beat.close();
 * ```
 */
export { Beat, compileBeatOptions } from './beat.js';
export type {
  BeatApp,
  BeatOptions,
  BeatRole,
  BeatState,
  CompiledBeatOptions,
  TickReport,
} from './beat.js';
export { BeatEvents } from './events.js';
export type {
  BeatEventMap,
  BeatEventName,
  BeatListener,
  BeatRunInfo,
  EntryEventInfo,
  MissedReason,
  RunFailure,
  RunOutcome,
} from './events.js';
export { BeatEntries } from './beat-entries.js';
export { defineBeat, beatConfigFrom } from './beat-config.js';
export type { BeatConfig } from './beat-config.js';
export type { BeatEntriesOptions } from './beat-entries.js';
export type { EntryPatch } from './entry-patch.js';
export { compileEntry, definitionHash, MAX_INSTANCES_LIMIT, runTaskId } from './entry.js';
export type {
  BeatEntry,
  EntryDefinition,
  EntryDefaults,
  EntryPublishOptions,
  EntrySource,
  EntryState,
  InstanceOptions,
  MisfireOptions,
  StoredEntry,
} from './entry.js';
export { planTicks } from './misfire.js';
export type { PlanInput, TickPlan } from './misfire.js';
export { loadCrontabFile, parseCrontabFile, watchCrontabFile } from './crontab-file.js';
export type { CrontabFileWatchOptions } from './crontab-file.js';
export { startEmbeddedBeat, defaultStoreUrl } from './embedded.js';
export type { EmbeddedBeat, EmbeddedBeatOptions } from './embedded.js';
export { MemoryScheduleStore } from './store/memory-schedule-store.js';
export type { MemoryScheduleStoreOptions } from './store/memory-schedule-store.js';
export { createScheduleStore } from './store/create-schedule-store.js';
export type { CreateScheduleStoreOptions } from './store/create-schedule-store.js';
export type {
  ClaimResult,
  EntryChange,
  EntryChangeKind,
  EntryWrite,
  Lease,
  LeadershipResult,
  NextRun,
  PendingRun,
  RunRef,
  ScheduleStore,
  StoreWatch,
  TickClaim,
  UpsertMode,
  UpsertResult,
  UpsertStatus,
} from './store/schedule-store.js';
export { RECENT_RUNS_KEPT } from './store/schedule-store.js';
export {
  nextRunAfter,
  nextRunAfterMs,
  upcomingRuns,
  scheduleFromJSON,
  scheduleToJSON,
  describeSchedule,
} from './schedules/schedule.js';
export { dueAtMs, jitterDelayMs, jitterOffsetMs } from './schedules/jitter.js';
export type { JitterContext } from './schedules/jitter.js';
export type { Schedule, ScheduleJSON, ScheduleKind } from './schedules/schedule.js';
export { interval } from './schedules/interval.js';
export type { IntervalOptions, IntervalSchedule } from './schedules/interval.js';
export { crontab, CRONTAB_DAY_MATCHES } from './schedules/crontab.js';
export type {
  CrontabDayMatch,
  CrontabField,
  CrontabFields,
  CrontabOptions,
  CrontabSchedule,
} from './schedules/crontab.js';
export { cron, CRON_FIELD_NAMES } from './schedules/cron.js';
export type { CronFieldName, CronOptions, CronSchedule } from './schedules/cron.js';
export { oneOff } from './schedules/one-off.js';
export type { OneOffOptions, OneOffSchedule } from './schedules/one-off.js';
export { solar, SOLAR_EVENTS } from './schedules/solar.js';
export type { SolarEvent, SolarSchedule } from './schedules/solar.js';
export { every, WEEKDAY_NAMES } from './schedules/every.js';
export type {
  EveryBuilder,
  EveryJob,
  EverySchedule,
  EveryUnit,
  Weekday,
} from './schedules/every.js';
export type { DateInput, RangeOptions, ScheduleDate } from './schedules/common.js';
export { checkTimeZone } from './schedules/wall-clock.js';
export { Scheduler } from './scheduler/scheduler.js';
export type { SchedulerOptions, SchedulerState } from './scheduler/scheduler.js';
export { Job } from './scheduler/job.js';
export type {
  AddJobOptions,
  JobArgs,
  JobChanges,
  JobDefaults,
  JobFunction,
  JobOwner,
} from './scheduler/job.js';
export type { EveryJobBinder, SchedulerEveryBuilder } from './scheduler/every-binder.js';
export type {
  JobRunInfo,
  SchedulerEventMap,
  SchedulerEventName,
  SchedulerListener,
} from './scheduler/scheduler-events.js';
export type {
  CronTriggerOptions,
  DateTriggerOptions,
  IntervalTriggerOptions,
  TriggerName,
  TriggerOptions,
} from './scheduler/triggers.js';
