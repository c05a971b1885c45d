import { optionTypes as t, type OptionType } from '@celeriac/core/internal';
import type { BeatEntry, EntryDefinition, EntryPublishOptions, MisfireOptions } from './entry.js';
import { invalidSchedule, scheduleChecks, show } from './errors.js';
import {
  scheduleFromJSON,
  scheduleToJSON,
  takesTimezone,
  timezoneOf,
  type Schedule,
} from './schedules/schedule.js';

/**
 * A partial update of an entry (`BeatEntries.modify`, APScheduler's `modify_job`): each key
 * given replaces that part of the definition; `options` is merged key by key (`null` drops a
 * key). A `timezone` without a `schedule` moves the entry's wall-clock schedule to that zone;
 * a new `schedule` without a zone of its own keeps the entry's zone. The name cannot change.
 */
export interface EntryPatch extends MisfireOptions {
  task?: string;
  schedule?: Schedule;
  args?: readonly unknown[];
  kwargs?: Record<string, unknown>;
  options?: { [K in keyof EntryPublishOptions]?: EntryPublishOptions[K] | null };
  /** Pauses (`false`) or resumes (`true`, from now on, as `resume` does) the entry. */
  enabled?: boolean;
  timezone?: string;
}

const PATCH_SPEC = {
  task: t.any,
  schedule: t.any,
  args: t.any,
  kwargs: t.any,
  options: t.any,
  enabled: t.any,
  timezone: t.any,
  misfireGraceTime: t.any,
  coalesce: t.any,
  catchUp: t.any,
  catchUpLimit: t.any,
} as const satisfies { readonly [K in keyof Required<EntryPatch>]: OptionType };

/** The schedule of `s` without its own time zone, so a default zone applies again. */
function withoutTimezone(s: Schedule): Schedule {
  const { timezone: _tz, ...rest } = scheduleToJSON(s) as Schedule & { timezone?: string };
  return scheduleFromJSON(rest);
}

/**
 * The entry a patch makes of a stored definition, to be compiled (and so validated) as any
 * entry is. Throws `CELERIAC_ERR_INVALID_SCHEDULE` for an unknown key, a rename, or a value
 * of the wrong kind.
 */
export function patchedEntry(
  d: EntryDefinition,
  enabled: boolean,
  patch: EntryPatch,
  defaultTimezone: string,
): BeatEntry {
  const label = `beat entry "${d.name}"`;
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch))
    throw invalidSchedule(
      `${label}: a patch must be an object, got ${show(patch)}`,
      'patch',
      patch,
    );
  if ('name' in patch) {
    throw invalidSchedule(
      `${label}: an entry cannot be renamed; add it under the new name and remove this one`,
      'name',
      (patch as { name?: unknown }).name,
    );
  }
  scheduleChecks(label).strict(patch, PATCH_SPEC);
  const current = scheduleFromJSON(d.schedule);
  let schedule = patch.schedule ?? current;
  if (patch.timezone !== undefined && patch.schedule === undefined && takesTimezone(current))
    schedule = withoutTimezone(current);
  const options = patchOptions(label, d.options, patch.options);
  return {
    name: d.name,
    task: patch.task ?? d.task,
    schedule,
    args: patch.args ?? d.args,
    kwargs: patch.kwargs ?? { ...d.kwargs },
    options,
    enabled: patch.enabled ?? enabled,
    timezone: patch.timezone ?? timezoneOf(current) ?? defaultTimezone,
    misfireGraceTime:
      patch.misfireGraceTime !== undefined ? patch.misfireGraceTime : d.misfireGraceTime,
    coalesce: patch.coalesce ?? d.coalesce,
    catchUp: patch.catchUp ?? d.catchUp,
    catchUpLimit: patch.catchUpLimit ?? d.catchUpLimit,
    // Absent from definitions stored before maxInstances existed: the defaults apply then.
    ...(d.maxInstances === undefined ? {} : { maxInstances: d.maxInstances }),
    ...(d.maxInstancesTimeout === undefined ? {} : { maxInstancesTimeout: d.maxInstancesTimeout }),
  };
}

function patchOptions(
  label: string,
  current: Readonly<EntryPublishOptions>,
  patch: EntryPatch['options'],
): EntryPublishOptions {
  if (patch === undefined) return { ...current };
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch))
    throw invalidSchedule(
      `${label} options: must be an object, got ${show(patch)}`,
      'options',
      patch,
    );
  const out: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (value !== undefined) out[key] = value;
  }
  // Unknown keys and bad values are refused when the entry is compiled.
  return out;
}
