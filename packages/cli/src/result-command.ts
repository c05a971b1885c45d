import { TaskError } from '@celeriac/client';
import { keepingAlive, requireSharedTransport, withOneShotApp, type CliIo } from './cli-context.js';
import { COMMON_HELP, commonOptions, flag, numberOption, parse, str } from './parse.js';
import { UsageError } from './usage-error.js';

export const RESULT_HELP = `Usage: celeriac result <task-id> [options]

Prints a task's state and result as JSON: {"id","state","result","traceback","dateDone"}.

Options:
  -w, --wait            Wait until the task is ready
      --timeout <s>     Seconds to wait with --wait (default: forever)
${COMMON_HELP}
`;

export async function resultCommand(argv: string[], io: CliIo): Promise<number> {
  const p = parse(
    argv,
    { ...commonOptions, wait: { type: 'boolean', short: 'w' }, timeout: { type: 'string' } },
    true,
  );
  if (p.values['help']) {
    io.stdout.write(RESULT_HELP);
    return 0;
  }
  const [id, ...extra] = p.positionals;
  if (!id) throw new UsageError('result needs a task id: celeriac result <task-id>');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const timeout = numberOption(str(p, 'timeout'), '--timeout');
  return withOneShotApp(p, async (app) => {
    requireSharedTransport(app, { broker: false, results: true });
    const r = app.asyncResult(id);
    if (flag(p, 'wait')) {
      await keepingAlive(() =>
        r.get({ propagate: false, ...(timeout === undefined ? {} : { timeout }) }),
      );
    }
    const state = await r.state();
    const info = await r.info();
    const out = {
      id,
      state,
      result:
        info instanceof TaskError
          ? { type: info.type, message: info.remoteMessage }
          : (info ?? null),
      traceback: r.traceback ?? null,
      dateDone: r.dateDone?.toISOString() ?? null,
    };
    io.stdout.write(`${JSON.stringify(out)}\n`);
    return state === 'FAILURE' || state === 'REVOKED' ? 1 : 0;
  });
}
