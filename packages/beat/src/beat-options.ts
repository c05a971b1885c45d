import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { CeleriacError, ErrorCodes, type Clock, type Logger } from '@celeriac/core';
import { optionChecks, optionTypes as t, type OptionType } from '@celeriac/core/internal';
import {
  compileEntry,
  type BeatEntry,
  type InstanceOptions,
  type MisfireOptions,
} from './entry.js';
import { checkTimeZone } from './schedules/wall-clock.js';
import type { ScheduleStore } from './store/schedule-store.js';

/**
 * Options of `new Beat()`. Misfire and `maxInstances` options given here are the defaults of
 * every entry.
 * Durations are in seconds. An unknown key or a wrong type is refused with
 * `CELERIAC_ERR_INVALID_OPTION`, naming the key and the nearest valid spelling.
 */
export interface BeatOptions extends MisfireOptions, InstanceOptions {
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
  /**
   * Also send beat's events as Celery events on the `celeryev` exchange (`beat-submitted`,
   * `beat-executed`, `beat-error`, `beat-missed`, `beat-max-instances`, `beat-added`, ...),
   * with this beat's `id` as hostname, for `celeriac events` and other monitors
   * (`celeriac beat -E`). Needs a broker with events (Redis, RabbitMQ). @default false
   */
  events?: boolean;
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
  /** The entries' default `maxInstances` and `maxInstancesTimeout`, as given. */
  readonly instances: Readonly<InstanceOptions>;
  readonly events: boolean;
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
  maxInstances: t.anyOf(t.range(1, 16, true), {
    expected: 'null (no limit)',
    test: (v) => v === null,
  }),
  maxInstancesTimeout: t.positive,
  events: t.boolean,
} as const satisfies { readonly [K in keyof Required<BeatOptions>]: OptionType };

/** `BeatOptions` checked, with defaults applied; `owner` names the caller in errors. */
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
  const instances: InstanceOptions = {};
  if (o.maxInstances !== undefined) instances.maxInstances = o.maxInstances;
  if (o.maxInstancesTimeout !== undefined) instances.maxInstancesTimeout = o.maxInstancesTimeout;
  return Object.freeze({
    timezone: checkTimeZone(o.timezone ?? 'UTC'),
    lockTtlMs: Math.round(lockTtl * 1000),
    maxLoopIntervalMs: Math.round(maxLoop * 1000),
    batchSize,
    id,
    misfire: Object.freeze(misfire),
    instances: Object.freeze(instances),
    events: o.events ?? false,
  });
}

/**
 * Refuses a bad configured entry, or two with one name, now, at registration, not at its
 * first run (`CELERIAC_ERR_INVALID_SCHEDULE`).
 */
export function checkConfigEntries(
  entries: readonly BeatEntry[],
  options: Pick<CompiledBeatOptions, 'timezone' | 'misfire' | 'instances'>,
): void {
  const names = new Set<string>();
  for (const e of entries) {
    const { definition } = compileEntry(e, {
      timezone: options.timezone,
      ...options.misfire,
      ...options.instances,
    });
    if (names.has(definition.name)) {
      throw new CeleriacError(
        ErrorCodes.INVALID_SCHEDULE,
        `two beat entries are named "${definition.name}": entry names must be unique`,
        { details: { field: 'name', option: 'name', value: definition.name } },
      );
    }
    names.add(definition.name);
  }
}
