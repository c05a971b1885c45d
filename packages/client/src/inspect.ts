import { randomUUID } from 'node:crypto';
import {
  CeleriacError,
  ErrorCodes,
  serializerByName,
  serializerForContentType,
  type Broker,
  type BrokerMessage,
  type SerializerName,
} from '@celeriac/core';
import {
  optionChecks,
  optionTypes as t,
  PIDBOX_EXCHANGE,
  PIDBOX_REPLY_EXCHANGE,
} from '@celeriac/core/internal';

export interface InspectOptions {
  /** Seconds to wait for replies. @default 1 (Celery's default) */
  timeout?: number;
  /** Worker names (`celeriac@host`, `celery@host`) to ask; every worker when absent. */
  destination?: readonly string[];
}

/** Replies by worker name, as Celery's `app.control.inspect()` returns them. */
export type Replies<T = unknown> = Record<string, T>;

/** How `broadcastCommand` sends: what `InspectOptions` says, and Celery's `broadcast()` knobs. */
export interface BroadcastOptions extends InspectOptions {
  /**
   * Wait `timeout` seconds for the replies (Celery's `reply=True`); false sends a cast that
   * asks for none and resolves to `{}` once it is published. @default true
   */
  reply?: boolean;
  /** How the request is encoded (Celery's mailbox uses its `task_serializer`). @default 'json' */
  serializer?: SerializerName;
}

/**
 * Celery's remote control from Node: broadcasts a command on kombu's `celery.pidbox` and
 * collects `{hostname: reply}` from every worker that answers within the timeout, Python
 * Celery workers and Celeriac workers alike (on Redis and RabbitMQ). With a `destination`,
 * returns as soon as each named worker replied. Replies are decoded by their content type: a
 * Python worker answers in its own `task_serializer` (JSON or msgpack).
 */
export async function broadcastCommand(
  broker: Broker,
  method: string,
  args: Record<string, unknown>,
  options: BroadcastOptions = {},
): Promise<Replies> {
  const control = broker.control;
  if (!control) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `remote control needs a Redis or RabbitMQ broker; the ${broker.kind} broker has none`,
      {
        details: { option: 'broker', value: broker.kind, expected: 'a redis:// or amqp:// broker' },
      },
    );
  }
  const timeoutS = options.timeout ?? 1;
  if (!(timeoutS > 0)) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `timeout must be a positive number of seconds, got ${String(timeoutS)}`,
      { details: { option: 'timeout', value: timeoutS, expected: 'seconds > 0' } },
    );
  }
  const serializer = serializerByName(options.serializer ?? 'json');
  const destination =
    options.destination && options.destination.length > 0 ? [...options.destination] : null;
  const request = { method, arguments: args, destination, pattern: null, matcher: null };
  const headers = { clock: 1, expires: Date.now() / 1000 + timeoutS };
  const wire = (body: Record<string, unknown>): BrokerMessage => ({
    body: serializer.encode(body),
    contentType: serializer.contentType,
    contentEncoding: serializer.contentEncoding,
    headers,
    properties: { delivery_mode: 1 },
  });
  if (options.reply === false) {
    await control.broadcast(PIDBOX_EXCHANGE, wire(request));
    return {};
  }
  const oid = randomUUID();
  const ticket = randomUUID();
  const replies: Replies = {};
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const timer = setTimeout(finish, timeoutS * 1000);
  const listener = await control.openReplies(PIDBOX_REPLY_EXCHANGE, oid, (m) => {
    if (m.headers['ticket'] !== ticket) return;
    let body: unknown;
    try {
      body = serializerForContentType(m.contentType).decode(m.body);
    } catch {
      return;
    }
    if (typeof body !== 'object' || body === null) return;
    Object.assign(replies, body);
    if (destination && destination.every((d) => d in replies)) finish();
  });
  try {
    await control.broadcast(
      PIDBOX_EXCHANGE,
      wire({
        ...request,
        ticket,
        reply_to: { exchange: PIDBOX_REPLY_EXCHANGE, routing_key: oid },
      }),
    );
    await done;
  } finally {
    clearTimeout(timer);
    await listener.close();
  }
  return replies;
}

/** Refuses an unknown key or a wrong type in `InspectOptions` (`CELERIAC_ERR_INVALID_OPTION`). */
export function checkInspectOptions(options: InspectOptions, where: string): void {
  optionChecks(where).strict(options, {
    timeout: t.seconds,
    destination: t.arrayOf(t.nonEmptyString),
  } satisfies { readonly [K in keyof Required<InspectOptions>]: unknown });
}

/** `app.control.inspect()`: what the workers are doing, by worker name. */
export class Inspect {
  readonly #broker: () => Promise<Broker>;
  readonly #options: BroadcastOptions;

  /** `serializer`: how requests are encoded (the app's `taskSerializer`, as Celery's mailbox). */
  constructor(
    broker: () => Promise<Broker>,
    options: InspectOptions = {},
    serializer: SerializerName = 'json',
  ) {
    checkInspectOptions(options, 'inspect()');
    this.#broker = broker;
    this.#options = { ...options, serializer };
  }

  /** `{ok: 'pong'}` from each worker. */
  ping(): Promise<Replies<{ ok: string }>> {
    return this.#ask('ping') as Promise<Replies<{ ok: string }>>;
  }

  /** The task names each worker knows. */
  registered(): Promise<Replies<string[]>> {
    return this.#ask('registered') as Promise<Replies<string[]>>;
  }

  /** The tasks each worker runs now (Celery's `Request.info()` entries). */
  active(): Promise<Replies<Record<string, unknown>[]>> {
    return this.#ask('active') as Promise<Replies<Record<string, unknown>[]>>;
  }

  /** Each worker's statistics (`total` runs per task, `pid`, `pool`, …). */
  stats(): Promise<Replies<Record<string, unknown>>> {
    return this.#ask('stats') as Promise<Replies<Record<string, unknown>>>;
  }

  /** Tasks each worker took from the broker and has not started (ETA ones aside). */
  reserved(): Promise<Replies<Record<string, unknown>[]>> {
    return this.#ask('reserved') as Promise<Replies<Record<string, unknown>[]>>;
  }

  /** Tasks each worker holds for their ETA: `{eta, priority, request}` entries. */
  scheduled(): Promise<Replies<Record<string, unknown>[]>> {
    return this.#ask('scheduled') as Promise<Replies<Record<string, unknown>[]>>;
  }

  /** The revoked task ids each worker knows. */
  revoked(): Promise<Replies<string[]>> {
    return this.#ask('revoked') as Promise<Replies<string[]>>;
  }

  /** The queues each worker consumes (kombu's `Queue.as_dict()` entries). */
  activeQueues(): Promise<Replies<Record<string, unknown>[]>> {
    return this.#ask('active_queues') as Promise<Replies<Record<string, unknown>[]>>;
  }

  /** Where each worker has these tasks: `{id: [state, info]}`, state `active` or `reserved`. */
  queryTask(...ids: string[]): Promise<Replies<Record<string, [string, Record<string, unknown>]>>> {
    return this.#ask('query_task', { ids }) as Promise<
      Replies<Record<string, [string, Record<string, unknown>]>>
    >;
  }

  /** Each worker's configuration, under Celery's setting names. */
  conf(withDefaults = false): Promise<Replies<Record<string, unknown>>> {
    return this.#ask('conf', { with_defaults: withDefaults }) as Promise<
      Replies<Record<string, unknown>>
    >;
  }

  /** Each worker's bug report (versions, platform, settings): `{ok: text}`. */
  report(): Promise<Replies<{ ok: string }>> {
    return this.#ask('report') as Promise<Replies<{ ok: string }>>;
  }

  /**
   * Any remote-control command by its Celery name, with its arguments: an inspect one, or a
   * control one (`rate_limit`, `pool_grow`, `add_consumer`, `shutdown`, …: Celery's
   * `app.control.broadcast(reply=True)`), whose replies are `{ok}` or `{error}`.
   */
  request(method: string, args: Record<string, unknown> = {}): Promise<Replies> {
    return this.#ask(method, args);
  }

  async #ask(method: string, args: Record<string, unknown> = {}): Promise<Replies> {
    return broadcastCommand(await this.#broker(), method, args, this.#options);
  }
}
