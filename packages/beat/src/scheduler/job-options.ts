import { randomBytes } from 'node:crypto';
import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { optionTypes as t, type OptionType } from '@celeriac/core/internal';
import {
  compileEntry,
  definitionHash,
  instanceLimits,
  type BeatEntry,
  type EntryDefinition,
  type StoredEntry,
} from '../entry.js';
import { dueAtMs } from '../schedules/jitter.js';
import { nextRunAfterMs, scheduleFromJSON, type Schedule } from '../schedules/schedule.js';
import type { EntryWrite, NextRun, ScheduleStore, UpsertMode } from '../store/schedule-store.js';
import type { AddJobOptions, JobChanges, JobDefaults } from './job.js';

const maxInstances = t.anyOf(t.range(1, 16, true), {
  expected: 'null (no limit)',
  test: (v) => v === null,
});
const misfireGraceTime = t.anyOf(t.seconds, {
  expected: 'null (any lateness)',
  test: (v) => v === null,
});

export const DEFAULTS_SPEC = {
  maxInstances,
  coalesce: t.boolean,
  misfireGraceTime,
} as const satisfies { readonly [K in keyof Required<JobDefaults>]: OptionType };

/** The job options left once the trigger took its fields and the range (see triggers.ts). */
export const JOB_SPEC = {
  ...DEFAULTS_SPEC,
  id: t.nonEmptyString,
  name: t.nonEmptyString,
  args: t.array,
  kwargs: t.object,
  timezone: t.nonEmptyString,
  replaceExisting: t.boolean,
  paused: t.boolean,
  tags: t.arrayOf(t.nonEmptyString),
} as const satisfies {
  readonly [
    K in Exclude<keyof Required<AddJobOptions>, 'startDate' | 'endDate' | 'jitter'>
  ]: OptionType;
};

export const CHANGES_SPEC = {
  ...DEFAULTS_SPEC,
  name: t.nonEmptyString,
  fn: t.function,
  args: t.array,
  kwargs: t.object,
  tags: t.arrayOf(t.nonEmptyString),
} as const satisfies { readonly [K in keyof Required<JobChanges>]: OptionType };

export type JobOptionValues = Omit<AddJobOptions, 'startDate' | 'endDate' | 'jitter'>;

/** APScheduler's id: 32 hex digits. */
export function randomJobId(): string {
  return randomBytes(16).toString('hex');
}

/** The beat entry of a job: the job id is the entry's name, the job's name its task. */
export function jobEntry(
  id: string,
  name: string,
  schedule: Schedule,
  o: JobOptionValues,
  defaults: Required<JobDefaults>,
): BeatEntry {
  const coalesce = o.coalesce ?? defaults.coalesce;
  return {
    name: id,
    task: name,
    schedule,
    args: o.args ?? [],
    kwargs: o.kwargs ?? {},
    coalesce,
    misfireGraceTime:
      o.misfireGraceTime !== undefined ? o.misfireGraceTime : defaults.misfireGraceTime,
    maxInstances: o.maxInstances !== undefined ? o.maxInstances : defaults.maxInstances,
    enabled: !(o.paused ?? false),
    ...(o.timezone === undefined ? {} : { timezone: o.timezone }),
  };
}

/** A stored job's entry again, with `changes` (for `modifyJob` and `rescheduleJob`). */
export function entryOf(
  d: EntryDefinition,
  schedule: Schedule,
  changes: Pick<
    JobChanges,
    'name' | 'args' | 'kwargs' | 'coalesce' | 'misfireGraceTime' | 'maxInstances'
  > = {},
): BeatEntry {
  const coalesce = changes.coalesce ?? (d.coalesce && !d.catchUp);
  return {
    name: d.name,
    task: changes.name ?? d.task,
    schedule,
    args: changes.args ?? d.args,
    kwargs: changes.kwargs ?? d.kwargs,
    options: d.options,
    coalesce,
    catchUp: false,
    catchUpLimit: d.catchUpLimit,
    misfireGraceTime:
      changes.misfireGraceTime !== undefined ? changes.misfireGraceTime : d.misfireGraceTime,
    maxInstances: changes.maxInstances !== undefined ? changes.maxInstances : instanceLimits(d).max,
    maxInstancesTimeout: d.maxInstancesTimeout,
  };
}

/**
 * A job's first run after `now`. A one-off whose time has passed is due at once, as in
 * APScheduler: its misfire policy then runs it or reports it `missed`.
 */
export function firstRun(schedule: Schedule, id: string, now: number, timezone: string): NextRun {
  // The one-off's time from the start of time, so an offset-less date is read in the zone.
  const once =
    schedule.kind === 'oneOff' ? nextRunAfterMs(schedule, -8.64e15, timezone) : undefined;
  const next =
    once !== undefined && once <= now ? once : (nextRunAfterMs(schedule, now, timezone) ?? null);
  return {
    nextRunAt: next,
    dueAt: next === null ? null : dueAtMs(schedule, id, next),
  };
}

export function conflict(id: string): CeleriacError {
  return new CeleriacError(
    ErrorCodes.INVALID_OPTION,
    `a job with id "${id}" already exists: pass replaceExisting: true to replace it, or remove it first`,
    { details: { option: 'id', value: id } },
  );
}

/** The system's time zone, which the `schedule` library and APScheduler read times in. */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/**
 * Writes a job's entry to the store as an `api` entry (so a beat's config sync leaves it
 * alone): the next run from `now` unless `next` keeps one, the enabled flag unless `enabled`
 * keeps one. Throws for an existing id in `create` mode and for a full store.
 */
export async function writeJob(
  store: ScheduleStore,
  entry: BeatEntry,
  mode: UpsertMode,
  o: { timezone: string; now: number; next?: NextRun; enabled?: boolean },
): Promise<'created' | 'updated' | 'unchanged'> {
  const { definition, enabled } = compileEntry(entry, { timezone: o.timezone });
  const schedule = scheduleFromJSON(definition.schedule);
  const write: EntryWrite = {
    definition,
    hash: definitionHash(definition),
    enabled: o.enabled ?? enabled,
    source: 'api',
    ...(o.next ?? firstRun(schedule, definition.name, o.now, entry.timezone ?? o.timezone)),
  };
  const [result] = await store.upsert([write], mode, o.now);
  const status = result?.status ?? 'exists';
  // 'stale' only answers an upsert at a revision, which this one is not: read it as a conflict.
  if (status === 'exists' || status === 'stale') throw conflict(definition.name);
  if (status === 'full')
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `the schedule store is full: remove jobs before adding "${definition.name}"`,
      { details: { option: 'id', value: definition.name } },
    );
  return status;
}

/**
 * A stored job's entry with `changes`, keeping its next run and enabled flag; undefined when
 * the changes leave the stored definition as it is (a new function or tags live in the process).
 */
export function modifiedEntry(
  stored: StoredEntry,
  changes: JobChanges,
  timezone: string,
): { entry: BeatEntry; keep: { next: NextRun; enabled: boolean } } | undefined {
  const { definition: d, state } = stored;
  const schedule = scheduleFromJSON(d.schedule);
  const entry = entryOf(d, schedule, changes);
  if (definitionHash(compileEntry(entry, { timezone }).definition) === definitionHash(d))
    return undefined;
  const at = state.nextRunAt;
  const next = {
    nextRunAt: at,
    dueAt: at === null ? null : dueAtMs(schedule, d.name, at),
  };
  return { entry, keep: { next, enabled: state.enabled } };
}

export function missingFunction(id: string): never {
  throw new CeleriacError(
    ErrorCodes.INVALID_OPTION,
    `job "${id}" has no function in this process: pass fn in the changes`,
    { details: { option: 'fn' } },
  );
}

/** A wall-clock schedule's own time zone, if it names one. */
export function zoneOf(schedule: Schedule): string | undefined {
  return 'timezone' in schedule ? schedule.timezone : undefined;
}
