import { withOneShotApp, type CliIo } from './cli-context.js';
import { COMMON_HELP, commonOptions, flag, listOption, numberOption, parse, str } from './parse.js';
import { online } from './remote-command.js';
import { UsageError } from './usage-error.js';

export const STATUS_HELP = `Usage: celeriac status [options]

Pings the running workers, Celeriac's and Python Celery's (Redis and RabbitMQ brokers), and
prints one line per worker that answered, then how many are online, as celery status:
  -> celeriac@host: OK

  1 node online.

Options:
  -d, --destination <a,b>   Only these workers (celeriac@host, celery@host)
  -t, --timeout <s>         Seconds to wait for replies (default: 1)
  -j, --json                One JSON object: replies by worker name
${COMMON_HELP}
Exits 0 when at least one worker replied, 69 (as Celery) when none did.
`;

export async function statusCommand(argv: string[], io: CliIo): Promise<number> {
  const p = parse(argv, {
    ...commonOptions,
    destination: { type: 'string', short: 'd' },
    timeout: { type: 'string', short: 't' },
    json: { type: 'boolean', short: 'j' },
  });
  if (p.values['help']) {
    io.stdout.write(STATUS_HELP);
    return 0;
  }
  const timeout = numberOption(str(p, 'timeout'), '--timeout') ?? 1;
  if (!(timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds');
  const destination = listOption(str(p, 'destination'));
  return withOneShotApp(p, async (app) => {
    const replies = await app.control.ping({ timeout, ...(destination ? { destination } : {}) });
    const nodes = Object.keys(replies).sort();
    if (nodes.length === 0) {
      io.stderr.write(`celeriac: no worker replied within ${timeout} s\n`);
      return 69;
    }
    if (flag(p, 'json')) io.stdout.write(`${JSON.stringify(replies)}\n`);
    else for (const node of nodes) io.stdout.write(`-> ${node}: OK\n`);
    io.stdout.write(`\n${online(nodes.length)}\n`);
    return 0;
  });
}
