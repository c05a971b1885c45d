import type { decodeTaskMessage } from '@celeriac/core';
import { queuesOf, withOneShotApp, type CliIo } from './cli-context.js';
import { COMMON_HELP, commonOptions, flag, intOption, parse, str } from './parse.js';
import { UsageError } from './usage-error.js';

export const DLQ_HELP = `Usage: celeriac dlq <list|replay|purge> [options]

Dead letters: messages a worker could not process (malformed, unknown task), kept per queue
with the reason. Fix the cause, then replay them to their queue.

Subcommands:
  list      Print each dead letter as one JSON line: id, queue, reason, time, task, task id
  replay    Send dead letters back to their queue (all, or those named with --id)
  purge     Delete the dead letters of the queues

Options:
  -Q, --queues <a,b>    Queues (default: the app's default queue, "celery")
      --id <id>         With replay: only this dead letter (repeatable)
      --limit <n>       With list: at most n per queue (default: 100)
      --json            With list: the whole message too (headers, properties, body as base64)
${COMMON_HELP}
`;

function taskOf(message: Parameters<typeof decodeTaskMessage>[0]): {
  task: unknown;
  taskId: unknown;
} {
  const h = message.headers;
  return { task: h['task'] ?? null, taskId: h['id'] ?? null };
}

export async function dlqCommand(argv: string[], io: CliIo): Promise<number> {
  const p = parse(
    argv,
    {
      ...commonOptions,
      queues: { type: 'string', short: 'Q' },
      id: { type: 'string', multiple: true },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
    true,
  );
  const [sub, ...extra] = p.positionals;
  if (p.values['help'] || !sub) {
    io.stdout.write(DLQ_HELP);
    return sub || p.values['help'] ? 0 : 2;
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (sub !== 'list' && sub !== 'replay' && sub !== 'purge') {
    throw new UsageError(`unknown subcommand "${sub}": use list, replay or purge`);
  }
  const limit = intOption(str(p, 'limit'), '--limit') ?? 100;
  const ids = (p.values['id'] as unknown as string[] | undefined) ?? undefined;
  return withOneShotApp(p, async (app) => {
    const broker = await app.broker();
    const queues = queuesOf(p, app);
    let total = 0;
    for (const queue of queues) {
      switch (sub) {
        case 'list': {
          for (const d of await broker.deadLetters.list(queue, { limit })) {
            const line: Record<string, unknown> = {
              id: d.id,
              queue: d.queue,
              code: d.reason.code,
              reason: d.reason.message,
              deadAt: new Date(d.deadAt).toISOString(),
              ...taskOf(d.message),
            };
            if (flag(p, 'json')) {
              line['message'] = {
                headers: d.message.headers,
                properties: d.message.properties,
                contentType: d.message.contentType,
                contentEncoding: d.message.contentEncoding,
                body: d.message.body.toString('base64'),
              };
            }
            io.stdout.write(`${JSON.stringify(line)}\n`);
            total++;
          }
          break;
        }
        case 'replay': {
          const n = await broker.deadLetters.replay(queue, ids);
          total += n;
          io.stdout.write(`${queue}: ${n} dead letter${n === 1 ? '' : 's'} replayed\n`);
          break;
        }
        case 'purge': {
          const n = await broker.deadLetters.purge(queue);
          total += n;
          io.stdout.write(`${queue}: ${n} dead letter${n === 1 ? '' : 's'} purged\n`);
          break;
        }
      }
    }
    if (sub === 'list' && total === 0) io.stderr.write(`no dead letters in ${queues.join(', ')}\n`);
    return 0;
  });
}
