import type { CliIo } from './cli-context.js';
import { INSPECT_VERBS, REMOTE_OPTIONS_HELP, remoteCommand, verbList } from './remote-command.js';

export const INSPECT_HELP = `Usage: celeriac inspect <action> [arguments] [options]

Asks the running workers, Celeriac's and Python Celery's, through Celery's remote control
(Redis and RabbitMQ brokers), and prints each worker's reply. Actions and arguments are
celery inspect's:
${verbList(INSPECT_VERBS)}

Options:
${REMOTE_OPTIONS_HELP}
Exits 0 when at least one worker replied, 69 (as Celery) when none did.
`;

export function inspectCommand(argv: string[], io: CliIo): Promise<number> {
  return remoteCommand('inspect', INSPECT_VERBS, INSPECT_HELP, argv, io);
}
