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
import type { InFlight } from './in-flight.js';

/** One running task, as `celery inspect active` lists it (Celery's `Request.info()`). */
export interface ActiveTaskInfo {
  id: string;
  name: string;
  args: readonly unknown[];
  kwargs: Record<string, unknown>;
  type: string;
  hostname: string;
  time_start: number | null;
  acknowledged: boolean;
  delivery_info: {
    exchange: string;
    routing_key: string;
    priority: number | null;
    redelivered: boolean;
  };
  worker_pid: number;
}

/** A running task as `celery inspect active` lists it; none for a message not started yet. */
export function activeTaskInfo(entry: InFlight, hostname: string): ActiveTaskInfo[] {
  const m = entry.msg;
  if (!m) return [];
  const props = entry.delivery.message.properties;
  return [
    {
      id: m.headers.id,
      name: m.headers.task,
      args: m.args,
      kwargs: m.kwargs,
      type: m.headers.task,
      hostname,
      time_start: entry.startedAt / 1000,
      acknowledged: entry.acked,
      delivery_info: {
        exchange: '',
        routing_key: entry.delivery.queue,
        priority: typeof props.priority === 'number' ? props.priority : null,
        redelivered: entry.delivery.redelivered,
      },
      worker_pid: process.pid,
    },
  ];
}

/** What remote control asks of its worker. */
export interface ControlledWorker {
  readonly hostname: string;
  registered(): string[];
  active(): ActiveTaskInfo[];
  stats(): Record<string, unknown>;
  revoke(ids: readonly string[], terminate: boolean): void;
  /** Whether task events are on now. */
  taskEvents(): boolean;
  /** Turns task events on or off (Celery's `enable_events` / `disable_events`). */
  setTaskEvents(on: boolean): void;
}

interface ControlRequest {
  method: string;
  arguments: Record<string, unknown>;
  destination: string[] | null;
  ticket?: string;
  reply_to?: { exchange: string; routing_key: string };
}

/**
 * Answers Celery's remote control (`celery inspect ping|active|registered|stats`,
 * `app.control.revoke`, `app.control.ping`) so a Celeriac worker shows up beside Python
 * workers: it listens on kombu's `celery.pidbox` fanout and replies `{hostname: reply}` to
 * the asker's `reply.celery.pidbox` queue with the request's ticket, as kombu's
 * `pidbox.Node` does. Commands it does not know get `{error}`, as Celery answers them.
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
  #listener: ControlListener | undefined;
  #clock = 0;

  constructor(
    channel: ControlChannel,
    worker: ControlledWorker,
    logger: Logger,
    replySerializer: SerializerName = 'json',
  ) {
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
    let reply: unknown;
    try {
      reply = this.#dispatch(request);
    } catch (err) {
      reply = { error: err instanceof Error ? err.message : String(err) };
    }
    if (!request.reply_to || request.ticket === undefined) return; // a cast: no reply wanted
    this.#clock += 1;
    const serializer = this.#replies;
    try {
      const body = serializer.encode({ [this.#worker.hostname]: reply });
      await this.#channel.send(request.reply_to.exchange, request.reply_to.routing_key, {
        body,
        contentType: serializer.contentType,
        contentEncoding: serializer.contentEncoding,
        headers: { ticket: request.ticket, clock: this.#clock },
        properties: { delivery_mode: 1 },
      });
    } catch (err) {
      this.#logger.warn({ err, method: request.method }, 'could not send a remote-control reply');
    }
  }

  #dispatch(r: ControlRequest): unknown {
    const args = r.arguments;
    switch (r.method) {
      case 'ping':
        return { ok: 'pong' };
      case 'registered':
        return this.#worker.registered();
      case 'active':
        return this.#worker.active();
      case 'stats':
        return this.#worker.stats();
      case 'revoke': {
        const given = args['task_id'];
        const ids = (Array.isArray(given) ? given : [given]).filter(
          (x): x is string => typeof x === 'string',
        );
        this.#worker.revoke(ids, args['terminate'] === true);
        return { ok: `tasks ${ids.join(', ')} flagged as revoked` };
      }
      case 'enable_events':
        if (this.#worker.taskEvents()) return { ok: 'task events already enabled' };
        this.#worker.setTaskEvents(true);
        return { ok: 'task events enabled' };
      case 'disable_events':
        if (!this.#worker.taskEvents()) return { ok: 'task events already disabled' };
        this.#worker.setTaskEvents(false);
        return { ok: 'task events disabled' };
      default:
        return { error: `No such control command: ${r.method}` };
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
