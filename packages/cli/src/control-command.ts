import type { CliIo } from './cli-context.js';
import { CONTROL_VERBS, REMOTE_OPTIONS_HELP, remoteCommand, verbList } from './remote-command.js';

export const CONTROL_HELP = `Usage: celeriac control <action> [arguments] [options]

Changes the running workers, Celeriac's and Python Celery's, through Celery's remote control
(Redis and RabbitMQ brokers), and prints each worker's reply ({ok} or {error}). Actions and
arguments are celery control's:
${verbList(CONTROL_VERBS)}

Examples:
  celeriac control rate_limit tasks.add 10/s
  celeriac control pool_grow 2 -d celeriac@host
  celeriac control add_consumer reports
  celeriac control terminate SIGTERM 1f0c6d3e-...
  celeriac control shutdown -d celeriac@host

Options:
${REMOTE_OPTIONS_HELP}
Exits 0 when at least one worker replied, 69 (as Celery) when none did.
`;

export function controlCommand(argv: string[], io: CliIo): Promise<number> {
  return remoteCommand('control', CONTROL_VERBS, CONTROL_HELP, argv, io);
}
