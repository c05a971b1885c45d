import {
  serializerByName,
  serializerForContentType,
  type BrokerMessage,
  type ControlChannel,
  type ControlListener,
  type Logger,
  type Serializer,
  type SerializerName,
} from '@celeriac/core';
import { PIDBOX_EXCHANGE } from '@celeriac/core/internal';
import { runCommand, type Command, type ControlledWorker } from './commands.js';

interface ControlRequest {
  method: string;
  arguments: Record<string, unknown>;
  destination: string[] | null;
  ticket?: string;
  reply_to?: { exchange: string; routing_key: string };
}

/**
 * Answers Celery's remote control (every `celery inspect` and `celery control` command but
 * the Python-only ones; see `COMMANDS`) so a Celeriac worker shows up beside Python workers:
 * it listens on kombu's `celery.pidbox` fanout and replies `{hostname: reply}` to the asker's
 * `reply.celery.pidbox` queue with the request's ticket, as kombu's `pidbox.Node` does.
 * Commands it does not know get `{error}`, as Celery answers them. `stop()` waits for the
 * replies under way (a `shutdown` command's among them).
 *
 * A request is decoded by its content type (JSON or msgpack: a Python client with
 * `task_serializer='msgpack'` sends msgpack), and the reply is encoded with the worker's own
 * task serializer, as kombu's `Node.reply` uses its mailbox's serializer (Celery's
 * `task_serializer`), whatever the request came in.
 */
export class RemoteControl {
  readonly #channel: ControlChannel;
  readonly #worker: ControlledWorker;
  readonly #logger: Logger;
  readonly #replies: Serializer;
  readonly #extra: Readonly<Record<string, Command>>;
  #listener: ControlListener | undefined;
  #clock = 0;
  readonly #sending = new Set<Promise<void>>();

  constructor(
    channel: ControlChannel,
    worker: ControlledWorker,
    logger: Logger,
    replySerializer: SerializerName = 'json',
    /** Commands besides Celery's built-in ones (`COMMANDS`), or replacing them. */
    extra: Readonly<Record<string, Command>> = {},
  ) {
    this.#extra = extra;
    this.#channel = channel;
    this.#worker = worker;
    this.#logger = logger;
    this.#replies = serializerByName(replySerializer);
  }

  async start(): Promise<void> {
    this.#listener = await this.#channel.listen(PIDBOX_EXCHANGE, (m) => void this.#handle(m));
  }

  async stop(): Promise<void> {
    const l = this.#listener;
    this.#listener = undefined;
    await l?.close();
    await Promise.all([...this.#sending]);
  }

  async #handle(message: BrokerMessage): Promise<void> {
    let request: ControlRequest;
    try {
      request = parseRequest(message);
    } catch (err) {
      this.#logger.warn({ err }, 'ignoring a malformed remote-control message');
      return;
    }
    const expires = Number(message.headers['expires']);
    if (Number.isFinite(expires) && expires > 0 && expires * 1000 < Date.now()) return;
    const clock = Number(message.headers['clock']);
    if (Number.isFinite(clock)) this.#clock = Math.max(this.#clock, clock);
    if (request.destination && !request.destination.includes(this.#worker.hostname)) return;
    this.#clock += 1;
    const ctx = { clock: this.#clock };
    const reply = runCommand(this.#worker, request.method, request.arguments, ctx, this.#extra);
    if (!request.reply_to || request.ticket === undefined) return; // a cast: no reply wanted
    const sending = this.#reply(request, request.reply_to, request.ticket, reply);
    this.#sending.add(sending);
    await sending;
    this.#sending.delete(sending);
  }

  async #reply(
    request: ControlRequest,
    to: { exchange: string; routing_key: string },
    ticket: string,
    reply: unknown,
  ): Promise<void> {
    const serializer = this.#replies;
    try {
      const body = serializer.encode({ [this.#worker.hostname]: reply });
      await this.#channel.send(to.exchange, to.routing_key, {
        body,
        contentType: serializer.contentType,
        contentEncoding: serializer.contentEncoding,
        headers: { ticket, clock: this.#clock },
        properties: { delivery_mode: 1 },
      });
    } catch (err) {
      this.#logger.warn({ err, method: request.method }, 'could not send a remote-control reply');
    }
  }
}

function parseRequest(message: BrokerMessage): ControlRequest {
  const decoded = serializerForContentType(message.contentType).decode(message.body) as Record<
    string,
    unknown
  > | null;
  if (typeof decoded !== 'object' || decoded === null || typeof decoded['method'] !== 'string') {
    throw new Error('not a pidbox request: no method');
  }
  const args = decoded['arguments'];
  const destination = decoded['destination'];
  const replyTo = decoded['reply_to'] as Record<string, unknown> | null | undefined;
  return {
    method: decoded['method'],
    arguments: typeof args === 'object' && args !== null ? (args as Record<string, unknown>) : {},
    destination: Array.isArray(destination)
      ? destination.filter((d): d is string => typeof d === 'string')
      : null,
    ...(typeof decoded['ticket'] === 'string' ? { ticket: decoded['ticket'] } : {}),
    ...(replyTo &&
    typeof replyTo['exchange'] === 'string' &&
    typeof replyTo['routing_key'] === 'string'
      ? { reply_to: { exchange: replyTo['exchange'], routing_key: replyTo['routing_key'] } }
      : {}),
  };
}
