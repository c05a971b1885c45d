import { receiveEvents, type CeleryEvent } from '@celeriac/client';
import { serveUntilSignal, serviceApp, type CliIo } from './cli-context.js';
import { COMMON_HELP, commonOptions, flag, listOption, parse, str } from './parse.js';
import { UsageError } from './usage-error.js';

export const EVENTS_HELP = `Usage: celeriac events [options]

Prints Celery's events live, one line each, as they happen (like "celery events --dump"):
from Celeriac and Python Celery workers alike (Redis and RabbitMQ brokers). Workers send
task events when started with -E or after "celeriac control enable_events"; heartbeats
always. Stops on SIGINT or SIGTERM.

Options:
      --json                One JSON object per line (the event as sent)
      --types <a,b>         Only these event types (task-failed,worker-offline)
      --no-heartbeats       Leave out worker-heartbeat events
      --ready-line          Print "-> events: listening" once listening (for scripts)
${COMMON_HELP}
Example:
  celeriac events --broker redis://localhost:6379 --types task-failed,task-retried
`;

const HUMAN: Readonly<Record<string, string>> = {
  'worker-offline': 'shutdown',
  'worker-online': 'started',
  'worker-heartbeat': 'heartbeat',
};

/** Resolves with the exit code once a signal stopped the tail. */
export async function eventsCommand(argv: string[], io: CliIo): Promise<number> {
  const p = parse(argv, {
    ...commonOptions,
    json: { type: 'boolean' },
    types: { type: 'string' },
    'no-heartbeats': { type: 'boolean' },
    'ready-line': { type: 'boolean' },
  });
  if (p.values['help']) {
    io.stdout.write(EVENTS_HELP);
    return 0;
  }
  const types = listOption(str(p, 'types'));
  for (const t of types ?? []) {
    if (!/^(task|worker|beat)-[a-z]+(-[a-z]+)*$/.test(t))
      throw new UsageError(`--types: "${t}" is not an event type such as task-failed`);
  }
  const { app, logger } = await serviceApp(
    p,
    'events on memory:// come from nothing outside this process; pass --broker redis://… or amqp://…',
  );
  const json = flag(p, 'json');
  const dumper = new Dumper();
  const wanted = (e: CeleryEvent): boolean =>
    (!types || types.includes(e.type)) &&
    !(flag(p, 'no-heartbeats') && e.type === 'worker-heartbeat');
  let receiver: Awaited<ReturnType<typeof receiveEvents>> | undefined;
  await serveUntilSignal({
    logger,
    start: async () => {
      receiver = await receiveEvents(app, (e) => {
        if (wanted(e)) io.stdout.write(`${json ? JSON.stringify(e) : dumper.format(e)}\n`);
      });
      if (flag(p, 'ready-line')) io.stdout.write('-> events: listening\n');
    },
    onSignal: (_signal, stop) => stop(),
    close: async () => {
      await receiver?.close();
      await app.close();
    },
  });
  return 0;
}

/**
 * Celery's `Dumper` line: `<hostname> [<UTC time>] <type>: <task(id) args=… kwargs=…> k=v, …`,
 * remembering each task's name from its received or sent event (at most 4,095 tasks).
 */
export class Dumper {
  readonly #names = new Map<string, string>();

  format(event: CeleryEvent): string {
    const ev: Record<string, unknown> = { ...event };
    const ts = new Date(Number(ev['timestamp']) * 1000).toISOString().replace('T', ' ');
    const type = String(ev['type']).toLowerCase();
    const hostname = String(ev['hostname']);
    for (const k of ['timestamp', 'type', 'hostname']) delete ev[k];
    let task = '';
    if (type.startsWith('task-')) {
      const uuid = String(ev['uuid']);
      delete ev['uuid'];
      if (type === 'task-received' || type === 'task-sent') {
        task = `${String(ev['name'])}(${uuid}) args=${String(ev['args'])} kwargs=${String(ev['kwargs'])}`;
        for (const k of ['name', 'args', 'kwargs']) delete ev[k];
        this.#names.set(uuid, task);
        if (this.#names.size > 0xfff) this.#names.delete(this.#names.keys().next().value!);
      } else task = this.#names.get(uuid) ?? '';
    }
    const fields = Object.keys(ev)
      .sort()
      .map((k) => `${k}=${typeof ev[k] === 'string' ? String(ev[k]) : JSON.stringify(ev[k])}`)
      .join(', ');
    const human = HUMAN[type] ?? type.replace(/-/g, ' ');
    const head = `${hostname} [${ts.slice(0, -1)}] ${human}${fields ? ':' : ''}`;
    return task ? `${head} ${task} ${fields}`.trimEnd() : `${head} ${fields}`.trimEnd();
  }
}
