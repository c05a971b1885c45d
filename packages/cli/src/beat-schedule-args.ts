// What the `celeriac beat` editing subcommands share: how a schedule, the publish options and
// the store are read from the flags.
import { hostname } from 'node:os';
import {
  BeatEntries,
  createScheduleStore,
  crontab,
  defaultStoreUrl,
  interval,
  oneOff,
  scheduleFromJSON,
  solar,
  type BeatConfig,
  type EntryPublishOptions,
  type Schedule,
  type SolarEvent,
} from '@celeriac/beat';
import type { Logger } from '@celeriac/core';
import { loadApp, loadBeatConfig } from './load-app.js';
import { intOption, jsonOption, numberOption, str, type Parsed } from './parse.js';
import { UsageError } from './usage-error.js';

/** The flags every editing subcommand takes (parseArgs options). */
export const EDIT_OPTIONS = {
  store: { type: 'string' },
  namespace: { type: 'string' },
  broker: { type: 'string', short: 'b' },
  app: { type: 'string', short: 'A' },
  loglevel: { type: 'string', short: 'l' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The flags that name a schedule. */
export const SCHEDULE_OPTIONS = {
  cron: { type: 'string' },
  every: { type: 'string' },
  at: { type: 'string' },
  solar: { type: 'string' },
  schedule: { type: 'string' },
  tz: { type: 'string' },
} as const;

/** The flags that set what a run publishes. */
export const PUBLISH_OPTIONS = {
  task: { type: 'string' },
  args: { type: 'string' },
  kwargs: { type: 'string' },
  queue: { type: 'string', short: 'Q' },
  priority: { type: 'string' },
  expires: { type: 'string' },
} as const;

const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `--args` (a JSON array), when given. */
export function argsFrom(p: Parsed): unknown[] | undefined {
  return jsonOption(str(p, 'args'), '--args', isArray, 'an array');
}

/** `--kwargs` (a JSON object), when given. */
export function kwargsFrom(p: Parsed): Record<string, unknown> | undefined {
  return jsonOption(str(p, 'kwargs'), '--kwargs', isObject, 'an object');
}

/** The publish options the flags set (`--queue`, `--priority`, `--expires`), only those given. */
export function publishOptionsFrom(p: Parsed): EntryPublishOptions {
  const options: EntryPublishOptions = {};
  const queue = str(p, 'queue');
  if (queue !== undefined) options.queue = queue;
  const priority = intOption(str(p, 'priority'), '--priority', 0);
  if (priority !== undefined) options.priority = priority;
  const expires = numberOption(str(p, 'expires'), '--expires');
  if (expires !== undefined) options.expires = expires;
  return options;
}

/** An instant as beat lists it (ISO, or `-` for none). */
export const iso = (t: number | null): string => (t === null ? '-' : new Date(t).toISOString());

const DURATION_UNITS: Record<string, number> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  w: 604_800,
};

/** `90`, `10s`, `5m`, `1h30m`, `2d` → seconds. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(trimmed); m; m = re.exec(trimmed)) {
    total += Number(m[1]) * (DURATION_UNITS[m[2] ?? 's'] ?? 1);
    matched = re.lastIndex;
  }
  if (matched !== trimmed.length || total <= 0)
    throw new UsageError(`--every must be a duration such as 30s, 5m, 1h30m or 2d, got "${text}"`);
  return total;
}

/** The schedule the flags name; `optional` lets none be given (`beat modify`). */
export function scheduleFrom(p: Parsed): Schedule;
export function scheduleFrom(p: Parsed, optional: true): Schedule | undefined;
export function scheduleFrom(p: Parsed, optional = false): Schedule | undefined {
  const given = ['cron', 'every', 'at', 'solar', 'schedule'].filter((k) => str(p, k) !== undefined);
  if (given.length === 0 && optional) return undefined;
  if (given.length !== 1)
    throw new UsageError(
      `give ${optional ? 'at most' : 'exactly'} one of --cron, --every, --at, --solar or --schedule`,
    );
  const cronExpr = str(p, 'cron');
  if (cronExpr !== undefined) return crontab(cronExpr);
  const every = str(p, 'every');
  if (every !== undefined) return interval(parseDuration(every));
  const at = str(p, 'at');
  if (at !== undefined) return oneOff(at);
  const sol = str(p, 'solar');
  if (sol !== undefined) {
    const [event, lat, lon] = sol.split(':');
    if (lat === undefined || lon === undefined)
      throw new UsageError(
        `--solar must be <event>:<latitude>:<longitude>, e.g. sunrise:51.5:-0.13, got "${sol}"`,
      );
    return solar(event as SolarEvent, Number(lat), Number(lon));
  }
  return scheduleFromJSON(jsonOption(str(p, 'schedule'), '--schedule', isObject, 'an object'));
}

export async function storeFrom(p: Parsed, command: string, logger: Logger): Promise<BeatEntries> {
  let url = str(p, 'store') ?? str(p, 'broker');
  const spec = str(p, 'app');
  if (url === undefined && spec) {
    const config = await loadBeatConfig(spec).catch((): BeatConfig => ({}));
    url = config.store ?? defaultStoreUrl(await loadApp(spec));
  }
  url ??= process.env['CELERIAC_BROKER_URL'];
  if (url === undefined || !/^(rediss?|sentinels?|sqlite|postgres(ql)?):\/\//i.test(url)) {
    throw new UsageError(
      `beat ${command} needs the schedule store the beats share, Redis, SQLite or PostgreSQL: pass --store redis://…, --store sqlite://./celeriac.db or --store postgresql://…, --broker, --app, or set CELERIAC_BROKER_URL (a memory:// store lives inside one beat process)`,
    );
  }
  const namespace = str(p, 'namespace');
  const store = await createScheduleStore(url, {
    ...(namespace === undefined ? {} : { namespace }),
    origin: `celeriac-cli:${hostname()}:${process.pid}`,
  });
  logger.debug({ namespace: store.namespace }, 'beat: schedule store');
  return new BeatEntries(store);
}
