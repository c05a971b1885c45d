/**
 * `@celeriac/cli`: the `celeriac` command.
 *
 * @example
 * ```sh
 * celeriac worker --app ./dist/app.js -c 50
 * celeriac call tasks.add --args '[2, 3]' --broker redis://localhost:6379 --wait
 * ```
 */
import { isCeleriacError } from '@celeriac/core';
import { beatCommand, BEAT_HELP } from './beat-command.js';
import { callCommand, CALL_HELP } from './call-command.js';
import type { CliIo } from './cli-context.js';
import { dashboardCommand, DASHBOARD_HELP } from './dashboard-command.js';
import { controlCommand, CONTROL_HELP } from './control-command.js';
import { dlqCommand, DLQ_HELP } from './dlq-command.js';
import { eventsCommand, EVENTS_HELP } from './events-command.js';
import { inspectCommand, INSPECT_HELP } from './inspect-command.js';
import { purgeCommand, PURGE_HELP } from './purge-command.js';
import { resultCommand, RESULT_HELP } from './result-command.js';
import { statusCommand, STATUS_HELP } from './status-command.js';
import { UsageError } from './usage-error.js';
import { workerCommand, WORKER_HELP } from './worker-command.js';

export const HELP = `Usage: celeriac <command> [options]

A distributed task queue for Node.js that speaks Celery's protocol.

Commands:
  worker     Consume tasks and run them
  call       Publish a task by name
  result     Show a task's state and result
  purge      Delete the waiting messages of queues
  dlq        List, replay or purge dead letters
  inspect    Ask the running workers (Celeriac's and Celery's): ping, stats, reserved, conf, ...
  control    Change the running workers: rate_limit, pool_grow, add_consumer, shutdown, ...
  status     List the workers online (as celery status)
  events     Print Celery's events live (like celery events --dump)
  beat       Enqueue periodic tasks; add/modify/reschedule/remove/pause/clear/list... edit them
  dashboard  A live web UI: workers, queues, tasks, beat, dead letters, charts (events -E)

Run "celeriac <command> --help" for a command's options.
Environment: CELERIAC_BROKER_URL, CELERIAC_RESULT_BACKEND, CELERIAC_LOG_LEVEL.
With no broker configured, commands use sqlite://./celeriac.db (results in the same file).
`;

const commands: Record<
  string,
  { run: (argv: string[], io: CliIo) => Promise<number>; help: string }
> = {
  worker: { run: workerCommand, help: WORKER_HELP },
  call: { run: callCommand, help: CALL_HELP },
  result: { run: resultCommand, help: RESULT_HELP },
  purge: { run: purgeCommand, help: PURGE_HELP },
  dlq: { run: dlqCommand, help: DLQ_HELP },
  inspect: { run: inspectCommand, help: INSPECT_HELP },
  events: { run: eventsCommand, help: EVENTS_HELP },
  control: { run: controlCommand, help: CONTROL_HELP },
  status: { run: statusCommand, help: STATUS_HELP },
  beat: { run: beatCommand, help: BEAT_HELP },
  dashboard: { run: dashboardCommand, help: DASHBOARD_HELP },
};

/** Runs the CLI; resolves with the exit code. Errors are one line on stderr, never a stack trace. */
export async function main(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(HELP);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write('celeriac 0.1.0\n');
    return 0;
  }
  const command = commands[name];
  if (!command) {
    io.stderr.write(`celeriac: unknown command "${name}"; run "celeriac --help" for the list\n`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(
        `celeriac ${name}: ${err.message}\nRun "celeriac ${name} --help" for usage.\n`,
      );
      return 2;
    }
    if (isCeleriacError(err)) {
      io.stderr.write(`celeriac ${name}: ${err.message} [${err.code}]\n`);
      return 1;
    }
    io.stderr.write(`celeriac ${name}: ${(err as Error).message ?? String(err)}\n`);
    return 1;
  }
}

export type { CliIo } from './cli-context.js';
export { loadApp } from './load-app.js';
