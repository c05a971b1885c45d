// `celeriac beat <add|remove|pause|resume|list|next>`: the schedule edited and read in the store
// the beats share, with no beat running here.
import {
  BeatEntries,
  checkTimeZone,
  createScheduleStore,
  crontab,
  defaultStoreUrl,
  describeSchedule,
  interval,
  oneOff,
  scheduleFromJSON,
  solar,
  upcomingRuns,
  type BeatConfig,
  type EntryPublishOptions,
  type Schedule,
  type SolarEvent,
  type StoredEntry,
} from '@celeriac/beat';
import type { Logger } from '@celeriac/core';
import { createLogger, logLevelOf, type CliIo } from './cli-context.js';
import { loadApp, loadBeatConfig } from './load-app.js';
import { flag, intOption, jsonOption, numberOption, parse, str, type Parsed } from './parse.js';
import { UsageError } from './usage-error.js';

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

function scheduleFrom(p: Parsed): Schedule {
  const given = ['cron', 'every', 'at', 'solar', 'schedule'].filter((k) => str(p, k) !== undefined);
  if (given.length !== 1)
    throw new UsageError('give exactly one of --cron, --every, --at, --solar or --schedule');
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
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  return scheduleFromJSON(jsonOption(str(p, 'schedule'), '--schedule', isObject, 'an object'));
}

async function storeFrom(p: Parsed, command: string, logger: Logger): Promise<BeatEntries> {
  let url = str(p, 'store') ?? str(p, 'broker');
  const spec = str(p, 'app');
  if (url === undefined && spec) {
    const config = await loadBeatConfig(spec).catch((): BeatConfig => ({}));
    url = config.store ?? defaultStoreUrl(await loadApp(spec));
  }
  url ??= process.env['CELERIAC_BROKER_URL'];
  if (url === undefined || !/^(rediss?|sentinels?|sqlite):\/\//i.test(url)) {
    throw new UsageError(
      `beat ${command} needs the schedule store the beats share, Redis or SQLite: pass --store redis://… or --store sqlite://./celeriac.db, --broker, --app, or set CELERIAC_BROKER_URL (a memory:// store lives inside one beat process)`,
    );
  }
  const namespace = str(p, 'namespace');
  const store = await createScheduleStore(url, namespace === undefined ? {} : { namespace });
  logger.debug({ namespace: store.namespace }, 'beat: schedule store');
  return new BeatEntries(store);
}

function pad(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return (
    rows
      .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  '))
      .join('\n') + '\n'
  );
}

const iso = (t: number | null): string => (t === null ? '-' : new Date(t).toISOString());

function entryJson(e: StoredEntry): Record<string, unknown> {
  return {
    name: e.definition.name,
    task: e.definition.task,
    schedule: describeSchedule(scheduleFromJSON(e.definition.schedule)),
    enabled: e.state.enabled,
    source: e.state.source,
    nextRunAt: e.state.nextRunAt === null ? null : iso(e.state.nextRunAt),
    lastRunAt: e.state.lastRunAt === null ? null : iso(e.state.lastRunAt),
    totalRunCount: e.state.totalRunCount,
    args: e.definition.args,
    kwargs: e.definition.kwargs,
    options: e.definition.options,
  };
}

/** A wall-clock rendering of an instant in a zone, for `next --tz`. */
function local(d: Date, tz: string): string {
  return new Intl.DateTimeFormat('sv-SE', {
    timeZone: tz,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  }).format(d);
}

/** The subcommands that edit or read the schedule rather than run a beat. */
export const BEAT_ADMIN_COMMANDS = ['add', 'remove', 'pause', 'resume', 'list', 'next'] as const;
/** One of {@link BEAT_ADMIN_COMMANDS}. */
export type BeatAdminCommand = (typeof BEAT_ADMIN_COMMANDS)[number];

/**
 * `celeriac beat add|remove|pause|resume|list|next …`: edits or reads the shared schedule store;
 * resolves with the exit code. `help` is what `--help` prints.
 */
export async function beatAdminCommand(
  command: BeatAdminCommand,
  argv: string[],
  io: CliIo,
  help: string,
): Promise<number> {
  const p = parse(
    argv,
    {
      store: { type: 'string' },
      namespace: { type: 'string' },
      broker: { type: 'string', short: 'b' },
      app: { type: 'string', short: 'A' },
      loglevel: { type: 'string', short: 'l' },
      help: { type: 'boolean', short: 'h' },
      task: { type: 'string' },
      cron: { type: 'string' },
      every: { type: 'string' },
      at: { type: 'string' },
      solar: { type: 'string' },
      schedule: { type: 'string' },
      args: { type: 'string' },
      kwargs: { type: 'string' },
      queue: { type: 'string', short: 'Q' },
      priority: { type: 'string' },
      expires: { type: 'string' },
      tz: { type: 'string' },
      paused: { type: 'boolean' },
      replace: { type: 'boolean' },
      json: { type: 'boolean' },
      count: { type: 'string', short: 'n' },
    },
    true,
  );
  if (flag(p, 'help')) {
    io.stdout.write(help);
    return 0;
  }
  const logger = createLogger(logLevelOf(p));
  const [target, ...extra] = p.positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0] ?? ''}"`);
  const tz = str(p, 'tz');
  if (tz !== undefined) checkTimeZone(tz, '--tz');
  const count = intOption(str(p, 'count'), '--count') ?? 5;

  // `next` of an expression needs no store.
  if (
    command === 'next' &&
    target !== undefined &&
    (/\s/.test(target.trim()) || target.startsWith('@'))
  ) {
    const s = crontab(target, tz === undefined ? {} : { timezone: tz });
    for (const d of upcomingRuns(s, Date.now(), count))
      io.stdout.write(tz ? `${d.toISOString()}  ${local(d, tz)}\n` : `${d.toISOString()}\n`);
    return 0;
  }
  if (command !== 'list' && target === undefined)
    throw new UsageError(`beat ${command} needs an entry name`);
  const name = target ?? '';
  const entries = await storeFrom(p, command, logger);
  try {
    switch (command) {
      case 'add': {
        const task = str(p, 'task');
        if (!task) throw new UsageError('beat add needs --task <task name>');
        const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
        const isObject = (v: unknown): v is Record<string, unknown> =>
          typeof v === 'object' && v !== null && !Array.isArray(v);
        const options: EntryPublishOptions = {};
        const queue = str(p, 'queue');
        if (queue !== undefined) options.queue = queue;
        const priority = intOption(str(p, 'priority'), '--priority', 0);
        if (priority !== undefined) options.priority = priority;
        const expires = numberOption(str(p, 'expires'), '--expires');
        if (expires !== undefined) options.expires = expires;
        const stored = await entries.add(
          {
            name,
            task,
            schedule: scheduleFrom(p),
            args: jsonOption(str(p, 'args'), '--args', isArray, 'an array') ?? [],
            kwargs: jsonOption(str(p, 'kwargs'), '--kwargs', isObject, 'an object') ?? {},
            options,
            enabled: !flag(p, 'paused'),
            ...(tz === undefined ? {} : { timezone: tz }),
          },
          { replace: flag(p, 'replace') },
        );
        io.stdout.write(
          `${flag(p, 'replace') ? 'replaced' : 'added'} ${name}: ${describeSchedule(scheduleFromJSON(stored.definition.schedule))} → ${task}; next run ${iso(stored.state.nextRunAt)}${stored.state.enabled ? '' : ' (paused)'}\n`,
        );
        return 0;
      }
      case 'remove':
      case 'pause':
      case 'resume': {
        const ok = await entries[command](name);
        if (!ok) {
          io.stderr.write(`celeriac beat ${command}: no entry named "${name}"\n`);
          return 1;
        }
        io.stdout.write(
          `${command === 'remove' ? 'removed' : command === 'pause' ? 'paused' : 'resumed'} ${name}\n`,
        );
        return 0;
      }
      case 'list': {
        const all = await entries.list();
        if (flag(p, 'json')) {
          io.stdout.write(`${JSON.stringify(all.map(entryJson), null, 2)}\n`);
          return 0;
        }
        const leader = await entries.store.leader(Date.now());
        const rows = [['NAME', 'TASK', 'SCHEDULE', 'STATE', 'NEXT RUN', 'LAST RUN', 'RUNS']];
        for (const e of all) {
          const j = entryJson(e);
          rows.push([
            String(j['name']),
            String(j['task']),
            String(j['schedule']),
            e.state.enabled ? 'enabled' : 'paused',
            iso(e.state.nextRunAt),
            iso(e.state.lastRunAt),
            String(e.state.totalRunCount),
          ]);
        }
        io.stdout.write(pad(rows));
        io.stdout.write(
          leader
            ? `leader: ${leader.owner} (fence ${leader.fence}, lock expires in ${(leader.ttlMs / 1000).toFixed(1)} s)\n`
            : 'leader: none (no beat is running)\n',
        );
        return 0;
      }
      case 'next': {
        const times = await entries.upcoming(name, count);
        if (!times) {
          io.stderr.write(`celeriac beat next: no entry named "${name}"\n`);
          return 1;
        }
        for (const d of times)
          io.stdout.write(tz ? `${d.toISOString()}  ${local(d, tz)}\n` : `${d.toISOString()}\n`);
        return 0;
      }
    }
  } finally {
    await entries.store.close();
  }
}
