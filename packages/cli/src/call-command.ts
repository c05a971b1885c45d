import { TaskError } from '@celeriac/client';
import { keepingAlive, requireSharedTransport, withOneShotApp, type CliIo } from './cli-context.js';
import { COMMON_HELP, commonOptions, flag, jsonOption, numberOption, parse, str } from './parse.js';
import { UsageError } from './usage-error.js';

export const CALL_HELP = `Usage: celeriac call <task> [options]

Publishes a task by name and prints its id (or, with --wait, its result as JSON).

Options:
  -a, --args <json>         Positional arguments as a JSON array (default: [])
  -k, --kwargs <json>       Keyword arguments as a JSON object (default: {})
      --countdown <s>       Seconds before it may run
      --expires <s>         Seconds after which it is discarded
  -Q, --queue <name>        Queue (default: the app's routing, else "celery")
      --priority <n>        Priority 0..9
      --serializer <name>   json or msgpack (default: json)
  -w, --wait                Wait for the result and print it
      --timeout <s>         Seconds to wait with --wait (default: forever)
${COMMON_HELP}

Example:
  celeriac call tasks.add --args '[2, 3]' --broker redis://localhost:6379 --wait
`;

const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export async function callCommand(argv: string[], io: CliIo): Promise<number> {
  const p = parse(
    argv,
    {
      ...commonOptions,
      args: { type: 'string', short: 'a' },
      kwargs: { type: 'string', short: 'k' },
      countdown: { type: 'string' },
      expires: { type: 'string' },
      queue: { type: 'string', short: 'Q' },
      priority: { type: 'string' },
      serializer: { type: 'string' },
      wait: { type: 'boolean', short: 'w' },
      timeout: { type: 'string' },
    },
    true,
  );
  if (p.values['help']) {
    io.stdout.write(CALL_HELP);
    return 0;
  }
  const [name, ...extra] = p.positionals;
  if (!name) throw new UsageError("call needs a task name: celeriac call <task> --args '[...]'");
  if (extra.length > 0)
    throw new UsageError(
      `unexpected argument "${extra[0]}": pass task arguments with --args '[...]'`,
    );
  const args = jsonOption(str(p, 'args'), '--args', isArray, 'array') ?? [];
  const kwargs = jsonOption(str(p, 'kwargs'), '--kwargs', isObject, 'object') ?? {};
  const countdown = numberOption(str(p, 'countdown'), '--countdown');
  const expires = numberOption(str(p, 'expires'), '--expires');
  const priority = numberOption(str(p, 'priority'), '--priority');
  const timeout = numberOption(str(p, 'timeout'), '--timeout');
  const serializer = str(p, 'serializer');
  if (serializer !== undefined && serializer !== 'json' && serializer !== 'msgpack') {
    throw new UsageError(`--serializer must be json or msgpack, got "${serializer}"`);
  }
  const queue = str(p, 'queue');
  return withOneShotApp(p, async (app) => {
    requireSharedTransport(app, { broker: true, results: flag(p, 'wait') });
    const result = app.sendTask(name, args, kwargs, {
      ...(countdown === undefined ? {} : { countdown }),
      ...(expires === undefined ? {} : { expires }),
      ...(priority === undefined ? {} : { priority }),
      ...(queue ? { queue } : {}),
      ...(serializer ? { serializer } : {}),
    });
    await result.published;
    if (!flag(p, 'wait')) {
      io.stdout.write(`${result.id}\n`);
      return 0;
    }
    try {
      const value = await keepingAlive(() => result.get(timeout === undefined ? {} : { timeout }));
      io.stdout.write(`${JSON.stringify(value)}\n`);
      return 0;
    } catch (err) {
      if (err instanceof TaskError) {
        io.stderr.write(`celeriac: task ${result.id} failed: ${err.type}: ${err.remoteMessage}\n`);
        return 1;
      }
      throw err;
    }
  });
}
