import { queuesOf, withOneShotApp, type CliIo } from './cli-context.js';
import { COMMON_HELP, commonOptions, parse } from './parse.js';

export const PURGE_HELP = `Usage: celeriac purge [options]

Deletes the waiting messages of queues (not running, delayed or dead-lettered ones) and
prints how many per queue.

Options:
  -Q, --queues <a,b>    Queues to purge (default: the app's default queue, "celery")
${COMMON_HELP}
`;

export async function purgeCommand(argv: string[], io: CliIo): Promise<number> {
  const p = parse(argv, { ...commonOptions, queues: { type: 'string', short: 'Q' } });
  if (p.values['help']) {
    io.stdout.write(PURGE_HELP);
    return 0;
  }
  return withOneShotApp(p, async (app) => {
    const broker = await app.broker();
    const queues = queuesOf(p, app);
    let total = 0;
    for (const q of queues) {
      const n = await broker.purge(q);
      total += n;
      io.stdout.write(`${q}: ${n} message${n === 1 ? '' : 's'} purged\n`);
    }
    if (queues.length > 1) io.stdout.write(`total: ${total}\n`);
    return 0;
  });
}
