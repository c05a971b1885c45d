// `celeriac beat <add|remove|pause|resume|list|next>`: the schedule edited and read in the store
// the beats share, with no beat running here.
import {
  checkTimeZone,
  crontab,
  describeSchedule,
  scheduleFromJSON,
  upcomingRuns,
  type StoredEntry,
} from '@celeriac/beat';
import { beatEditCommand, BEAT_EDIT_COMMANDS, isBeatEditCommand } from './beat-edit-command.js';
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
import { flag, intOption, parse, str } from './parse.js';
import { UsageError } from './usage-error.js';

export { parseDuration } from './beat-schedule-args.js';

function pad(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return (
    rows
      .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  '))
      .join('\n') + '\n'
  );
}

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
export const BEAT_ADMIN_COMMANDS = [
  'add',
  'remove',
  'pause',
  'resume',
  'list',
  'next',
  ...BEAT_EDIT_COMMANDS,
] as const;
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
  if (isBeatEditCommand(command)) return beatEditCommand(command, argv, io);
  const p = parse(
    argv,
    {
      ...EDIT_OPTIONS,
      ...SCHEDULE_OPTIONS,
      ...PUBLISH_OPTIONS,
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
        const stored = await entries.add(
          {
            name,
            task,
            schedule: scheduleFrom(p),
            args: argsFrom(p) ?? [],
            kwargs: kwargsFrom(p) ?? {},
            options: publishOptionsFrom(p),
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
