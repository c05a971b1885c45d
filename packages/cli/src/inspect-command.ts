import { withOneShotApp, type CliIo } from './cli-context.js';
import { COMMON_HELP, commonOptions, flag, listOption, numberOption, parse, str } from './parse.js';
import { UsageError } from './usage-error.js';

const ACTIONS = ['ping', 'active', 'registered', 'stats'] as const;
type Action = (typeof ACTIONS)[number];

export const INSPECT_HELP = `Usage: celeriac inspect <${ACTIONS.join('|')}> [options]

Asks the running workers, Celeriac's and Python Celery's, through Celery's remote control
(Redis and RabbitMQ brokers), and prints each worker's reply:
  ping         {"ok": "pong"}
  active       the tasks it runs now
  registered   the task names it knows
  stats        runs per task, pid, pool, prefetch

Options:
  -d, --destination <a,b>   Only these workers (celeriac@host, celery@host)
  -t, --timeout <s>         Seconds to wait for replies (default: 1)
      --json                One JSON object: replies by worker name
${COMMON_HELP}
Exits 0 when at least one worker replied, 69 (as Celery) when none did.
`;

export async function inspectCommand(argv: string[], io: CliIo): Promise<number> {
  const p = parse(
    argv,
    {
      ...commonOptions,
      destination: { type: 'string', short: 'd' },
      timeout: { type: 'string', short: 't' },
      json: { type: 'boolean' },
    },
    true,
  );
  if (p.values['help']) {
    io.stdout.write(INSPECT_HELP);
    return 0;
  }
  const [action, ...extra] = p.positionals;
  if (!action)
    throw new UsageError(`inspect needs an action: celeriac inspect <${ACTIONS.join('|')}>`);
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw new UsageError(`unknown inspect action "${action}"; one of: ${ACTIONS.join(', ')}`);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const timeout = numberOption(str(p, 'timeout'), '--timeout') ?? 1;
  if (!(timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds');
  const destination = listOption(str(p, 'destination'));
  return withOneShotApp(p, async (app) => {
    const inspect = app.control.inspect({ timeout, ...(destination ? { destination } : {}) });
    const replies: Record<string, unknown> = await inspect[action as Action]();
    const names = Object.keys(replies).sort();
    if (flag(p, 'json')) {
      io.stdout.write(`${JSON.stringify(replies)}\n`);
    } else {
      for (const name of names) {
        io.stdout.write(`-> ${name}: ${describe(action as Action, replies[name])}\n`);
      }
      if (names.length > 0)
        io.stdout.write(`\n${names.length} node${names.length === 1 ? '' : 's'} online.\n`);
    }
    if (names.length === 0) {
      io.stderr.write(`celeriac: no worker replied within ${timeout} s\n`);
      return 69;
    }
    return 0;
  });
}

/** One worker's reply, as `celery inspect` prints it: OK and the value, indented. */
function describe(action: Action, reply: unknown): string {
  const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
  if (typeof reply === 'object' && reply !== null && 'error' in reply) {
    return `ERROR\n        ${text(reply.error)}`;
  }
  if (action === 'ping' && typeof reply === 'object' && reply !== null && 'ok' in reply) {
    return `OK\n        ${text(reply.ok)}`;
  }
  if (Array.isArray(reply)) {
    return reply.length === 0
      ? '- empty -'
      : `OK\n${reply.map((r) => `        * ${text(r)}`).join('\n')}`;
  }
  return `OK\n${JSON.stringify(reply, null, 2).replace(/^/gm, '        ')}`;
}
