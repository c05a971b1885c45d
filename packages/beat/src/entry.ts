import { createHash } from 'node:crypto';
import { type SerializerName } from '@celeriac/core';
import { optionTypes as t, type OptionType } from '@celeriac/core/internal';
import { invalidSchedule, scheduleChecks, show } from './errors.js';
import {
  scheduleFromJSON,
  scheduleToJSON,
  takesTimezone,
  withDefaultTimezone,
  type Schedule,
  type ScheduleJSON,
} from './schedules/schedule.js';
import { checkTimeZone } from './schedules/wall-clock.js';

/** How an entry's task is published: a subset of `ApplyOptions`, JSON-safe so it can be stored. */
export interface EntryPublishOptions {
  /** Queue to publish to. @default the task's route, else the app's default queue */
  queue?: string;
  /** Message priority 0..9. @default none */
  priority?: number;
  /**
   * Seconds after publishing after which a worker discards the task (Celery beat's common
   * `expires`): a run that waited behind a backlog for longer than its period is not worth
   * running. @default never
   */
  expires?: number;
  /** Extra message headers. @default none */
  headers?: Record<string, unknown>;
  /** @default the app's `taskSerializer` */
  serializer?: SerializerName;
  /** @default the task's own setting, else false */
  ignoreResult?: boolean;
  /** Hard time limit in seconds. @default the task's */
  timeLimit?: number;
  /** Soft time limit in seconds. @default the task's */
  softTimeLimit?: number;
  /** Name shown in logs and monitors instead of the task name. @default none */
  shadow?: string;
}

/**
 * What happens to runs that were due while no beat was dispatching (all beats down, a leader
 * change, a long pause), with APScheduler's meaning. See docs/beat.md, "Misfires".
 */
export interface MisfireOptions {
  /**
   * Seconds a run may be late and still be enqueued; a later run is skipped and logged.
   * `null` accepts any lateness. @default null
   */
  misfireGraceTime?: number | null;
  /** Enqueue only the latest of several missed runs. @default true */
  coalesce?: boolean;
  /**
   * Enqueue each missed run instead, oldest first (each still subject to
   * `misfireGraceTime`), up to `catchUpLimit`. `coalesce: false` means the same. @default false
   */
  catchUp?: boolean;
  /** Most missed runs enqueued by one catch-up; older ones are skipped and logged. @default 100 */
  catchUpLimit?: number;
}

/**
 * How many runs of one entry may be outstanding (queued or running) at once, APScheduler's
 * `max_instances`. Beat counts the entry's recent runs whose result is not in yet (through
 * the app's result backend, so the count is cluster-wide); a due run that would exceed the
 * limit is skipped and reported (`maxInstances` event). See docs/beat.md, "maxInstances".
 */
export interface InstanceOptions {
  /**
   * Most runs of the entry outstanding at once, 1..16 (beat keeps the last 16 runs of an
   * entry), or `null` for no limit. Needs a result backend; without one it is not enforced
   * (a warning says so once). @default 1
   */
  maxInstances?: number | null;
  /**
   * Seconds after its scheduled time a run with no result yet stops counting towards
   * `maxInstances`, so a run whose result never comes (lost, or its result not stored) does
   * not block the entry for ever. Set it to the longest a run can queue and take. @default
   * 86400 (a day: Celery's `result_expires`, after which its result is gone anyway)
   */
  maxInstancesTimeout?: number;
}

/** `maxInstances` accepted at most: the runs an entry's state remembers (`EntryState.recentRuns`). */
export const MAX_INSTANCES_LIMIT = 16;
/** The default `maxInstancesTimeout`, in seconds. */
export const DEFAULT_MAX_INSTANCES_TIMEOUT = 86_400;

/** A periodic task, as the app declares it (`new Beat(app, { entries })`, `beat.add()`). */
export interface BeatEntry extends MisfireOptions, InstanceOptions {
  /** Unique name of the entry (Celery's `beat_schedule` key). */
  name: string;
  /** The task's registered name. */
  task: string;
  schedule: Schedule;
  /** @default [] */
  args?: readonly unknown[];
  /** @default {} */
  kwargs?: Record<string, unknown>;
  /** @default {} */
  options?: EntryPublishOptions;
  /**
   * Whether the entry runs. Applies when the entry is created or its definition changes; a
   * `pause` at run time survives a restart with the same configuration. @default true
   */
  enabled?: boolean;
  /** IANA time zone of a wall-clock schedule that has none of its own. @default the beat's `timezone` (`UTC`) */
  timezone?: string;
}

/** An entry as stored: validated, with defaults applied, JSON-safe. */
export interface EntryDefinition {
  readonly name: string;
  readonly task: string;
  readonly schedule: ScheduleJSON;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly options: Readonly<EntryPublishOptions>;
  readonly misfireGraceTime: number | null;
  readonly coalesce: boolean;
  readonly catchUp: boolean;
  readonly catchUpLimit: number;
  /** `null`: no limit. Absent in definitions stored before it existed (read as 1). */
  readonly maxInstances: number | null;
  readonly maxInstancesTimeout: number;
}

/**
 * Where an entry came from: `config` (the app's beat config or a crontab file, synced when a
 * beat starts; an entry dropped from the config is removed) or `api` (`beat.add()`, the CLI;
 * kept until removed).
 */
export type EntrySource = 'config' | 'api';

/** An entry's run-time state in the store. Times are epoch milliseconds. */
export interface EntryState {
  readonly enabled: boolean;
  readonly source: EntrySource;
  /** Scheduled time of the next run (before jitter); null when the schedule has no more runs. */
  readonly nextRunAt: number | null;
  /** Scheduled time of the last enqueued run. */
  readonly lastRunAt: number | null;
  /** When the last run was enqueued (the dispatching beat's clock). */
  readonly lastDispatchedAt: number | null;
  /** Runs enqueued since the entry was created. */
  readonly totalRunCount: number;
  /** Increases with every change of definition or enabled flag. */
  readonly revision: number;
  /**
   * Scheduled times of the entry's last claimed runs (up to 16), ascending: what
   * `maxInstances` counts. Kept when the definition changes; cleared when the entry is removed.
   */
  readonly recentRuns: readonly number[];
}

export interface StoredEntry {
  readonly definition: EntryDefinition;
  readonly state: EntryState;
}

/** Defaults a beat applies to entries that do not say. */
export interface EntryDefaults extends MisfireOptions, InstanceOptions {
  timezone: string;
}

const NAME_RE = /^[^\p{Cc}]{1,200}$/u;

/** The keys of an entry; their values are checked one by one below, with entry-specific messages. */
const ENTRY_SPEC = {
  name: t.any,
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
  maxInstances: t.any,
  maxInstancesTimeout: t.any,
} as const satisfies { readonly [K in keyof Required<BeatEntry>]: OptionType };

const PUBLISH_SPEC = {
  queue: t.any,
  priority: t.any,
  expires: t.any,
  headers: t.any,
  serializer: t.any,
  ignoreResult: t.any,
  timeLimit: t.any,
  softTimeLimit: t.any,
  shadow: t.any,
} as const satisfies { readonly [K in keyof Required<EntryPublishOptions>]: OptionType };

function entryChecks(entry: string): ReturnType<typeof scheduleChecks> {
  return scheduleChecks(entry === '' ? 'beat entry' : `beat entry "${entry}"`);
}

function fail(entry: string, field: string, value: unknown, why: string): never {
  throw invalidSchedule(
    `beat entry ${entry === '' ? '' : `"${entry}" `}${field}: ${why}, got ${show(value)}`,
    field,
    value,
  );
}

function optionalSeconds(entry: string, field: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    fail(entry, field, v, 'must be a number of seconds >= 0');
  return v;
}

function compileOptions(entry: string, o: unknown): EntryPublishOptions {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    fail(entry, 'options', o, 'must be an object');
  entryChecks(entry).strict(o, PUBLISH_SPEC, { prefix: 'options.' });
  const src = o as Record<string, unknown>;
  const out: EntryPublishOptions = {};
  for (const [key, v] of Object.entries(src)) {
    if (v === undefined) continue;
    switch (key) {
      case 'queue':
      case 'shadow':
        if (typeof v !== 'string' || v === '')
          fail(entry, `options.${key}`, v, 'must be a non-empty string');
        out[key] = v;
        break;
      case 'priority':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255)
          fail(entry, 'options.priority', v, 'must be an integer 0..9 (0..255 on RabbitMQ)');
        out.priority = v;
        break;
      case 'expires':
      case 'timeLimit':
      case 'softTimeLimit':
        out[key] = optionalSeconds(entry, `options.${key}`, v) as number;
        break;
      case 'headers':
        if (typeof v !== 'object' || v === null || Array.isArray(v))
          fail(entry, 'options.headers', v, 'must be an object');
        out.headers = { ...(v as Record<string, unknown>) };
        break;
      case 'serializer':
        if (v !== 'json' && v !== 'msgpack')
          fail(entry, 'options.serializer', v, 'must be "json" or "msgpack"');
        out.serializer = v;
        break;
      case 'ignoreResult':
        if (typeof v !== 'boolean') fail(entry, 'options.ignoreResult', v, 'must be a boolean');
        out.ignoreResult = v;
        break;
      default:
        fail(
          entry,
          `options.${key}`,
          v,
          'is not a beat publish option (queue, priority, expires, headers, serializer, ignoreResult, timeLimit, softTimeLimit, shadow)',
        );
    }
  }
  return out;
}

/** The misfire policy with defaults applied and checked. */
export function compileMisfire(
  entry: string,
  o: MisfireOptions,
  defaults: MisfireOptions = {},
): Pick<EntryDefinition, 'misfireGraceTime' | 'coalesce' | 'catchUp' | 'catchUpLimit'> {
  const grace =
    o.misfireGraceTime !== undefined ? o.misfireGraceTime : (defaults.misfireGraceTime ?? null);
  if (grace !== null) optionalSeconds(entry, 'misfireGraceTime', grace);
  const coalesce = o.coalesce ?? defaults.coalesce ?? true;
  const catchUp = o.catchUp ?? defaults.catchUp ?? false;
  const catchUpLimit = o.catchUpLimit ?? defaults.catchUpLimit ?? 100;
  if (typeof coalesce !== 'boolean') fail(entry, 'coalesce', coalesce, 'must be a boolean');
  if (typeof catchUp !== 'boolean') fail(entry, 'catchUp', catchUp, 'must be a boolean');
  if (!Number.isInteger(catchUpLimit) || catchUpLimit < 1 || catchUpLimit > 10_000)
    fail(entry, 'catchUpLimit', catchUpLimit, 'must be an integer 1..10000');
  return { misfireGraceTime: grace, coalesce, catchUp, catchUpLimit };
}

/** `maxInstances` and `maxInstancesTimeout` with defaults applied and checked. */
export function compileInstances(
  entry: string,
  o: InstanceOptions,
  defaults: InstanceOptions = {},
): Pick<EntryDefinition, 'maxInstances' | 'maxInstancesTimeout'> {
  const max =
    o.maxInstances !== undefined
      ? o.maxInstances
      : defaults.maxInstances !== undefined
        ? defaults.maxInstances
        : 1;
  if (
    max !== null &&
    (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_INSTANCES_LIMIT)
  )
    fail(
      entry,
      'maxInstances',
      max,
      `must be an integer 1..${MAX_INSTANCES_LIMIT} (beat remembers an entry's last ${MAX_INSTANCES_LIMIT} runs), or null for no limit`,
    );
  const timeout =
    o.maxInstancesTimeout ?? defaults.maxInstancesTimeout ?? DEFAULT_MAX_INSTANCES_TIMEOUT;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0)
    fail(entry, 'maxInstancesTimeout', timeout, 'must be a number of seconds > 0');
  return { maxInstances: max, maxInstancesTimeout: timeout };
}

/** An entry's `maxInstances` limit: definitions stored before the option existed get the default, 1. */
export function instanceLimits(d: EntryDefinition): { max: number | null; timeoutMs: number } {
  const raw = d as Partial<EntryDefinition>;
  return {
    max: raw.maxInstances === undefined ? 1 : raw.maxInstances,
    timeoutMs: (raw.maxInstancesTimeout ?? DEFAULT_MAX_INSTANCES_TIMEOUT) * 1000,
  };
}

/**
 * Validates an entry and applies defaults. Throws `CELERIAC_ERR_INVALID_SCHEDULE` naming the
 * field and the value, so a bad entry is refused when it is registered.
 */
export function compileEntry(
  input: BeatEntry,
  defaults: EntryDefaults,
): { definition: EntryDefinition; enabled: boolean } {
  if (typeof input !== 'object' || input === null) fail('', 'entry', input, 'must be an object');
  const name = input.name;
  if (typeof name !== 'string' || !NAME_RE.test(name))
    fail('', 'name', name, 'must be 1-200 characters without control characters');
  entryChecks(name).strict(input, ENTRY_SPEC);
  if (typeof input.task !== 'string' || input.task === '')
    fail(name, 'task', input.task, 'must be a task name');
  if (typeof input.schedule !== 'object' || input.schedule === null)
    fail(
      name,
      'schedule',
      input.schedule,
      'must be a schedule (interval(), crontab(), cron(), oneOff(), solar() or every())',
    );
  const args = input.args ?? [];
  if (!Array.isArray(args)) fail(name, 'args', args, 'must be an array');
  const kwargs = input.kwargs ?? {};
  if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs))
    fail(name, 'kwargs', kwargs, 'must be an object');
  const enabled = input.enabled ?? true;
  if (typeof enabled !== 'boolean') fail(name, 'enabled', enabled, 'must be a boolean');
  let schedule: Schedule;
  try {
    // Through JSON and back: the stored form must rebuild to the same schedule.
    schedule = scheduleFromJSON(scheduleToJSON(input.schedule));
  } catch (err) {
    const e = err as Error;
    throw invalidSchedule(
      `beat entry "${name}" schedule: ${e.message}`,
      'schedule',
      input.schedule,
      err,
    );
  }
  const timezone =
    input.timezone === undefined
      ? defaults.timezone
      : checkTimeZone(input.timezone, `entry "${name}" timezone`);
  if (takesTimezone(schedule)) schedule = withDefaultTimezone(schedule, timezone);
  let argsJson: unknown[];
  let kwargsJson: Record<string, unknown>;
  try {
    argsJson = JSON.parse(JSON.stringify(args)) as unknown[];
    kwargsJson = JSON.parse(JSON.stringify(kwargs)) as Record<string, unknown>;
  } catch (err) {
    throw invalidSchedule(
      `beat entry "${name}": args and kwargs must be JSON-serializable (${(err as Error).message})`,
      'args',
      args,
      err,
    );
  }
  const definition: EntryDefinition = {
    name,
    task: input.task,
    schedule: scheduleToJSON(schedule),
    args: argsJson,
    kwargs: kwargsJson,
    options: compileOptions(name, input.options),
    ...compileMisfire(name, input, defaults),
    ...compileInstances(name, input, defaults),
  };
  return { definition, enabled };
}

/** JSON with sorted keys, so equal definitions hash equally. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A digest of a definition: a beat that syncs an unchanged entry leaves its state alone. */
export function definitionHash(d: EntryDefinition): string {
  return createHash('sha1').update(stableJson(d)).digest('hex');
}

/**
 * The task id of one run: a UUID derived from the store's namespace, the entry and the
 * scheduled time, so any beat that enqueues the same run uses the same id.
 */
export function runTaskId(namespace: string, entry: string, scheduledAt: number): string {
  const h = createHash('sha1')
    .update(`celeriac-beat\n${namespace}\n${entry}\n${scheduledAt}`)
    .digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50; // version 5 (name-based, SHA-1)
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80; // RFC 4122 variant
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
