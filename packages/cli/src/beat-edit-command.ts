// `celeriac beat <modify|reschedule|clear>`: run-time edits of the shared schedule that every
// beat watching the store acts on at once.
import {
  checkTimeZone,
  describeSchedule,
  scheduleFromJSON,
  type EntryPatch,
  type StoredEntry,
} from '@celeriac/beat';
import {
  argsFrom,
  EDIT_OPTIONS,
  iso,
  kwargsFrom,
  PUBLISH_OPTIONS,
  publishOptionsFrom,
  SCHEDULE_OPTIONS,
  scheduleFrom,
  storeFrom,
} from './beat-schedule-args.js';
import { createLogger, logLevelOf, type CliIo } from './cli-context.js';
import { flag, intOption, numberOption, parse, str, type Parsed } from './parse.js';
import { UsageError } from './usage-error.js';

const STORE_HELP = `Store (Redis or SQLite, shared with the beats):
      --store <url>        redis://… or sqlite://./celeriac.db (default: --broker, the app's
                           broker (--app), or $CELERIAC_BROKER_URL)
      --namespace <name>   Namespace in the store (default: default)
  -h, --help               Show this help`;

const SCHEDULE_HELP = `      --cron <expr>        A crontab expression ('0 3 * * 1-5', '@daily')
      --every <duration>   An interval: 30s, 5m, 1h30m, 2d
      --at <iso>           Once, at an instant (with its offset)
      --solar <event:lat:lon>   A solar event, e.g. sunrise:51.5:-0.13
      --schedule <json>    Any schedule as JSON ({"kind":"cron","fields":{...}})
      --tz <zone>          Time zone of the schedule (default: the entry's)`;

export const MODIFY_HELP = `Usage: celeriac beat modify <name> [changes] [store options]

Changes part of an entry; what is not named stays. The next run is recomputed from now only
when the schedule or its zone changes; otherwise the entry keeps its next run, last run and
run count. Every beat watching the store acts on the change at once.

Changes:
      --task <task>              The task name
      --args <json>              Positional args (a JSON array), replacing the old ones
      --kwargs <json>            Keyword args (a JSON object), replacing the old ones
  -Q, --queue <queue>            Publish to this queue
      --priority <n>             Message priority
      --expires <s>              Seconds after publishing after which a worker discards the run
      --misfire-grace <s|none>   Seconds a run may be late and still be enqueued
      --catch-up <true|false>    Enqueue each missed run (true) or only the latest (false)
      --catch-up-limit <n>       Most missed runs one catch-up enqueues
${SCHEDULE_HELP}
${STORE_HELP}

Examples:
  celeriac beat modify nightly --args '["us"]' -Q reports-us --store redis://localhost:6379
  celeriac beat modify nightly --tz America/New_York --store sqlite://./celeriac.db
`;

export const RESCHEDULE_HELP = `Usage: celeriac beat reschedule <name> (--cron <expr> | --every <duration> | --at <iso> | --solar <event:lat:lon> | --schedule <json>) [--tz <zone>] [store options]

Gives an entry a new schedule and computes its next run from now (APScheduler's
reschedule_job). A schedule without a zone keeps the entry's zone unless --tz is given.

${SCHEDULE_HELP}
${STORE_HELP}

Examples:
  celeriac beat reschedule nightly --cron '30 4 * * *' --store redis://localhost:6379
  celeriac beat reschedule ping --every 1m --store sqlite://./celeriac.db
`;

export const CLEAR_HELP = `Usage: celeriac beat clear --yes [store options]

Removes every entry of the namespace (APScheduler's remove_all_jobs): the API's and the
configuration's alike. A beat that starts afterwards syncs its configuration again. Without
--yes it only says how many entries it would remove.

      --yes                Remove them
${STORE_HELP}

Example:
  celeriac beat clear --yes --store redis://localhost:6379 --namespace staging
`;

/** The subcommands of this module. */
export const BEAT_EDIT_COMMANDS = ['modify', 'reschedule', 'clear'] as const;
/** One of {@link BEAT_EDIT_COMMANDS}. */
export type BeatEditCommand = (typeof BEAT_EDIT_COMMANDS)[number];

/** True when `command` is one of {@link BEAT_EDIT_COMMANDS}. */
export function isBeatEditCommand(command: string): command is BeatEditCommand {
  return (BEAT_EDIT_COMMANDS as readonly string[]).includes(command);
}

const HELP: Record<BeatEditCommand, string> = {
  modify: MODIFY_HELP,
  reschedule: RESCHEDULE_HELP,
  clear: CLEAR_HELP,
};

function booleanOption(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new UsageError(`${name} must be true or false, got "${value}"`);
}

/** The patch `beat modify` flags describe; a usage error when they describe nothing. */
function patchFrom(p: Parsed): EntryPatch {
  const patch: EntryPatch = {};
  const task = str(p, 'task');
  if (task !== undefined) patch.task = task;
  const args = argsFrom(p);
  if (args !== undefined) patch.args = args;
  const kwargs = kwargsFrom(p);
  if (kwargs !== undefined) patch.kwargs = kwargs;
  const options = publishOptionsFrom(p);
  if (Object.keys(options).length > 0) patch.options = options;
  const schedule = scheduleFrom(p, true);
  if (schedule !== undefined) patch.schedule = schedule;
  const tz = str(p, 'tz');
  if (tz !== undefined) patch.timezone = checkTimeZone(tz, '--tz');
  const grace = str(p, 'misfire-grace');
  if (grace !== undefined)
    patch.misfireGraceTime =
      grace === 'none' ? null : (numberOption(grace, '--misfire-grace') ?? null);
  const catchUp = booleanOption(str(p, 'catch-up'), '--catch-up');
  if (catchUp !== undefined) patch.catchUp = catchUp;
  const limit = intOption(str(p, 'catch-up-limit'), '--catch-up-limit');
  if (limit !== undefined) patch.catchUpLimit = limit;
  if (Object.keys(patch).length === 0)
    throw new UsageError(
      'beat modify needs a change: --task, --args, --kwargs, --queue, --priority, --expires, a schedule, --tz, --misfire-grace, --catch-up or --catch-up-limit',
    );
  return patch;
}

function summary(verb: string, e: StoredEntry): string {
  const schedule = describeSchedule(scheduleFromJSON(e.definition.schedule));
  return `${verb} ${e.definition.name}: ${schedule} → ${e.definition.task}; next run ${iso(e.state.nextRunAt)}${e.state.enabled ? '' : ' (paused)'}\n`;
}

/** `celeriac beat modify|reschedule|clear …`: resolves with the exit code. */
export async function beatEditCommand(
  command: BeatEditCommand,
  argv: string[],
  io: CliIo,
): Promise<number> {
  const p = parse(
    argv,
    {
      ...EDIT_OPTIONS,
      ...(command === 'clear' ? { yes: { type: 'boolean' } } : SCHEDULE_OPTIONS),
      ...(command === 'modify'
        ? {
            ...PUBLISH_OPTIONS,
            'misfire-grace': { type: 'string' },
            'catch-up': { type: 'string' },
            'catch-up-limit': { type: 'string' },
          }
        : {}),
    },
    true,
  );
  if (flag(p, 'help')) {
    io.stdout.write(HELP[command]);
    return 0;
  }
  const [name, ...extra] = p.positionals;
  const unexpected = command === 'clear' ? name : extra[0];
  if (unexpected !== undefined) throw new UsageError(`unexpected argument "${unexpected}"`);
  if (command !== 'clear' && name === undefined)
    throw new UsageError(`beat ${command} needs an entry name`);
  // Flags are checked before the store is opened: a mistake costs no connection.
  const tz = str(p, 'tz');
  const patch: EntryPatch | undefined =
    command === 'modify'
      ? patchFrom(p)
      : command === 'reschedule'
        ? {
            schedule: scheduleFrom(p),
            ...(tz === undefined ? {} : { timezone: checkTimeZone(tz, '--tz') }),
          }
        : undefined;
  const entries = await storeFrom(p, command, createLogger(logLevelOf(p)));
  try {
    if (patch === undefined) {
      if (!flag(p, 'yes')) {
        const n = (await entries.list()).length;
        io.stderr.write(
          `celeriac beat clear would remove ${n} entr${n === 1 ? 'y' : 'ies'} from namespace "${entries.store.namespace}": pass --yes to remove them\n`,
        );
        return 1;
      }
      const removed = await entries.removeAll();
      io.stdout.write(`removed ${removed} entr${removed === 1 ? 'y' : 'ies'}\n`);
      return 0;
    }
    const stored = await entries.modify(name ?? '', patch);
    if (!stored) {
      io.stderr.write(`celeriac beat ${command}: no entry named "${name ?? ''}"\n`);
      return 1;
    }
    io.stdout.write(summary(command === 'modify' ? 'modified' : 'rescheduled', stored));
    return 0;
  } finally {
    await entries.store.close();
  }
}
