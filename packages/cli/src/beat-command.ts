import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  Beat,
  BeatEntries,
  beatConfigFrom,
  checkTimeZone,
  createScheduleStore,
  crontab,
  defaultStoreUrl,
  describeSchedule,
  interval,
  oneOff,
  parseCrontabFile,
  scheduleFromJSON,
  solar,
  startEmbeddedBeat,
  upcomingRuns,
  type BeatConfig,
  type BeatEntry,
  type EmbeddedBeat,
  type EntryPublishOptions,
  type Schedule,
  type SolarEvent,
  type StoredEntry,
} from '@celeriac/beat';
import type { Celeriac } from '@celeriac/client';
import { redactUrl, type Logger } from '@celeriac/core';
import {
  appFrom,
  createLogger,
  keepingAlive,
  logLevelOf,
  onInProcessBroker,
  type CliIo,
} from './cli-context.js';
import { loadApp } from './load-app.js';
import {
  COMMON_HELP,
  commonOptions,
  flag,
  intOption,
  jsonOption,
  numberOption,
  parse,
  str,
  type Parsed,
} from './parse.js';
import { UsageError } from './usage-error.js';

export const BEAT_HELP = `Usage: celeriac beat --app <module> [options]        run the scheduler
       celeriac beat <add|remove|pause|resume|list|next> ...  edit and inspect the schedule

Enqueues periodic tasks. Run as many beats as you like on one Redis or SQLite store: one leads (a lock
with a short TTL), and each run is enqueued exactly once. Entries come from the app module's
\`beat\` export (an array of entries, or defineBeat({ entries, timezone, ... })), from
--crontab, and from "celeriac beat add" at run time. SIGTERM or SIGINT stops it.

Run options:
      --crontab <file>         Entries from a crontab-style file (5 fields, task, JSON args)
      --store <url>            Schedule store: redis://…, sqlite://./file.db or memory:// (default:
                               the app's broker when it is Redis or SQLite, else memory://, which
                               suits a single beat)
      --namespace <name>       Namespace in the store (default: default)
      --timezone <zone>        Time zone of schedules that name none (default: UTC)
      --lock-ttl <s>           Leader lock TTL: a dead leader is replaced within it (default: 10)
      --max-loop-interval <s>  Longest sleep between looks at the store (default: 1)
${COMMON_HELP}

Editing (needs a shared store, Redis or SQLite: --store, --broker, --app or $CELERIAC_BROKER_URL):
  add <name> --task <task> (--cron <expr> | --every <duration> | --at <iso> | --solar <event:lat:lon> | --schedule <json>)
             [--args <json>] [--kwargs <json>] [--queue <q>] [--priority <n>] [--expires <s>]
             [--tz <zone>] [--paused] [--replace]
  remove <name>        pause <name>        resume <name>
  list [--json]        Entries with their next and last run and run count
  next <name | 'cron expr'> [-n <count>] [--tz <zone>]   Upcoming runs (an expression needs no store)

Examples:
  celeriac beat --app ./dist/app.js --crontab ./jobs.cron
  celeriac beat add nightly --task reports.nightly --cron '0 3 * * *' --tz Europe/London --store redis://localhost:6379
  celeriac beat next '30 2 * * *' --tz America/New_York -n 3
  celeriac beat list --store redis://localhost:6379
  celeriac beat list --store sqlite://./celeriac.db
`;

const ADMIN = ['add', 'remove', 'pause', 'resume', 'list', 'next'] as const;
type AdminCommand = (typeof ADMIN)[number];

/** Lets a test stop a running beat without a signal. */
export interface BeatCommandControl {
  signal?: AbortSignal;
}

/** `celeriac beat …`: resolves with the exit code. */
export async function beatCommand(
  argv: string[],
  io: CliIo,
  control: BeatCommandControl = {},
): Promise<number> {
  const [first, ...rest] = argv;
  if (first !== undefined && (ADMIN as readonly string[]).includes(first))
    return adminCommand(first as AdminCommand, rest, io);
  return runBeat(argv, io, control);
}

/** The part of an `--app` spec naming the file, resolved as `loadApp` does. */
function moduleUrl(spec: string, cwd: string): string {
  const colon = spec.lastIndexOf(':');
  const hasExport = colon > 1 && !/^[a-zA-Z]:[\\/]/.test(spec.slice(colon - 1));
  const file = hasExport ? spec.slice(0, colon) : spec;
  const looksLikePath = file.startsWith('.') || isAbsolute(file) || /\.[cm]?[jt]s$/.test(file);
  return looksLikePath ? pathToFileURL(resolve(cwd, file)).href : file;
}

/** The `beat` export of the app module (already imported by `loadApp`, so this is the cached module). */
export async function loadBeatConfig(appSpec: string, cwd = process.cwd()): Promise<BeatConfig> {
  const mod = (await import(moduleUrl(appSpec, cwd))) as Record<string, unknown>;
  return beatConfigFrom(mod['beat'], `--app ${appSpec}`);
}

function crontabEntries(file: string | undefined): BeatEntry[] {
  if (file === undefined) return [];
  if (!existsSync(file)) throw new UsageError(`--crontab ${file}: no such file`);
  return parseCrontabFile(readFileSync(file, 'utf8'), file);
}

function seconds(p: Parsed, name: string): number | undefined {
  return numberOption(str(p, name), `--${name}`);
}

async function runBeat(argv: string[], io: CliIo, control: BeatCommandControl): Promise<number> {
  const p = parse(argv, {
    ...commonOptions,
    crontab: { type: 'string' },
    store: { type: 'string' },
    namespace: { type: 'string' },
    timezone: { type: 'string' },
    'lock-ttl': { type: 'string' },
    'max-loop-interval': { type: 'string' },
  });
  if (flag(p, 'help')) {
    io.stdout.write(BEAT_HELP);
    return 0;
  }
  const logger = createLogger(logLevelOf(p));
  const { app, loaded } = await appFrom(p, logger);
  if (onInProcessBroker(app)) {
    logger.warn(
      { broker: app.options.brokerUrl },
      'beat is on memory://, which lives inside its process: no worker elsewhere sees what it enqueues. Pass --broker redis://… or name a broker in the app module',
    );
  }
  const appSpec = str(p, 'app');
  const config = loaded && appSpec ? await loadBeatConfig(appSpec) : {};
  const {
    store: configStore,
    namespace: configNamespace,
    entries: configEntries = [],
    ...options
  } = config;
  const entries = [...configEntries, ...crontabEntries(str(p, 'crontab'))];
  const storeUrl = str(p, 'store') ?? configStore ?? defaultStoreUrl(app);
  const namespace = str(p, 'namespace') ?? configNamespace;
  if (/^memory:/i.test(storeUrl))
    logger.warn(
      'beat: memory:// schedule store: state lives in this process, so run a single beat (use a redis:// or sqlite:// store for more)',
    );
  const store = await createScheduleStore(storeUrl, namespace === undefined ? {} : { namespace });
  const lockTtl = seconds(p, 'lock-ttl');
  const maxLoopInterval = seconds(p, 'max-loop-interval');
  const timezone = str(p, 'timezone');
  let beat: Beat;
  try {
    beat = new Beat(app, {
      ...options,
      entries,
      store,
      logger,
      ...(lockTtl === undefined ? {} : { lockTtl }),
      ...(maxLoopInterval === undefined ? {} : { maxLoopInterval }),
      ...(timezone === undefined ? {} : { timezone }),
    });
  } catch (err) {
    await store.close();
    await app.close();
    throw err;
  }

  let stopped!: () => void;
  const done = new Promise<void>((r) => (stopped = r));
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'beat: stopping');
    stopped();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (control.signal?.aborted) stopped();
  control.signal?.addEventListener('abort', () => stopped(), { once: true });
  try {
    // Held open until a signal, whatever the store's own timers do.
    await keepingAlive(async () => {
      await beat.start();
      logger.info({ entries: entries.length, store: redactUrl(storeUrl) }, 'beat: ready');
      await done;
    });
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await beat.stop();
    await store.close();
    await app.close();
    await new Promise<void>((r) => logger.flush(() => r()));
  }
  return 0;
}

/**
 * For `celeriac worker --beat`: a beat in the worker's process, with the app module's `beat`
 * entries (and `crontab` file), on the app's broker when it is Redis or SQLite (several workers with
 * --beat then still enqueue each run once).
 */
export async function startWorkerBeat(
  app: Celeriac,
  logger: Logger,
  options: { appSpec?: string | undefined; crontab?: string | undefined } = {},
): Promise<EmbeddedBeat> {
  const config = options.appSpec ? await loadBeatConfig(options.appSpec) : {};
  const { store, entries = [], ...rest } = config;
  return startEmbeddedBeat(app, logger, {
    ...rest,
    ...(store === undefined ? {} : { storeUrl: store }),
    entries: [...entries, ...crontabEntries(options.crontab)],
  });
}

// -- editing the schedule -------------------------------------------------------------------

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
  if (url === undefined || !/^(rediss?|sqlite):\/\//i.test(url)) {
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

async function adminCommand(command: AdminCommand, argv: string[], io: CliIo): Promise<number> {
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
    io.stdout.write(BEAT_HELP);
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
