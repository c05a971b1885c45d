import { existsSync, readFileSync } from 'node:fs';
import {
  Beat,
  createScheduleStore,
  defaultStoreUrl,
  parseCrontabFile,
  startEmbeddedBeat,
  type BeatEntry,
  type EmbeddedBeat,
} from '@celeriac/beat';
import type { Celeriac } from '@celeriac/client';
import { type Logger } from '@celeriac/core';
import { redactUrl } from '@celeriac/core/internal';
import {
  beatAdminCommand,
  BEAT_ADMIN_COMMANDS,
  type BeatAdminCommand,
} from './beat-admin-command.js';
import { serveUntilSignal, serviceApp, type CliIo } from './cli-context.js';
import { loadBeatConfig } from './load-app.js';
import {
  COMMON_HELP,
  commonOptions,
  flag,
  numberOption,
  parse,
  str,
  type Parsed,
} from './parse.js';
import { UsageError } from './usage-error.js';

export { parseDuration } from './beat-admin-command.js';

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
  -E, --events                 Send beat events (beat-submitted, beat-executed, beat-missed, …) on
                               celeryev, for celeriac events and other monitors
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
  if (first !== undefined && (BEAT_ADMIN_COMMANDS as readonly string[]).includes(first))
    return beatAdminCommand(first as BeatAdminCommand, rest, io, BEAT_HELP);
  return runBeat(argv, io, control);
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
    events: { type: 'boolean', short: 'E' },
  });
  if (flag(p, 'help')) {
    io.stdout.write(BEAT_HELP);
    return 0;
  }
  const { app, loaded, logger } = await serviceApp(
    p,
    'beat is on memory://, which lives inside its process: no worker elsewhere sees what it enqueues. Pass --broker redis://… or name a broker in the app module',
  );
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
      ...(flag(p, 'events') ? { events: true } : {}),
    });
  } catch (err) {
    await store.close();
    await app.close();
    throw err;
  }

  await serveUntilSignal({
    logger,
    abort: control.signal,
    start: async () => {
      await beat.start();
      logger.info({ entries: entries.length, store: redactUrl(storeUrl) }, 'beat: ready');
    },
    onSignal: (signal, stop) => {
      logger.info({ signal }, 'beat: stopping');
      stop();
    },
    close: async () => {
      await beat.close();
      await store.close();
      await app.close();
    },
  });
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
