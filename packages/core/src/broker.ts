import type { BrokerMessage } from './message.js';

/**
 * The `Broker` contract speaks queue semantics, not Redis or AMQP. Everything above it
 * (client, worker, beat) is broker-agnostic, and every implementation (memory, SQLite, Redis,
 * AMQP) passes one conformance suite (`@celeriac/testing`).
 *
 * Delivery is at-least-once: a message handed to a consumer stays owned by the broker until
 * it is acked, requeued or dead-lettered; if the consumer's process dies, the broker gives it
 * to another consumer (after the broker's own bound, such as Redis's visibility timeout or the
 * SQLite broker's lease).
 *
 * Priority follows the transport, as Celery does: on memory, SQLite and Redis a lower number is
 * served first (0 before 9); on AMQP a higher number is served first.
 */
export interface Broker {
  /** `memory`, `redis`, `amqp` or `sqlite`. */
  readonly kind: BrokerKind;
  /** Makes sure a queue exists (and, for Redis, registers it as kombu does). Idempotent. */
  declareQueue(queue: string): Promise<void>;
  /**
   * Publishes one message. Resolves when the broker has it (for AMQP: confirmed).
   * With `deliverAt`, the broker holds the message and makes it ready at that time.
   */
  publish(queue: string, message: BrokerMessage, options?: PublishOptions): Promise<void>;
  /** Publishes several messages in as few round trips as the transport allows. */
  publishMany(items: readonly PublishItem[]): Promise<void>;
  /** Starts delivering messages from `queues` to `onMessage`, never more than `prefetch` unsettled. */
  consume(options: ConsumeOptions): Promise<Consumer>;
  /** Deletes the ready messages of a queue; returns how many. Held (delayed) messages stay. */
  purge(queue: string): Promise<number>;
  /** Ready messages in a queue, across its priority levels. */
  count(queue: string): Promise<number>;
  /** Messages waiting for their delivery time, for a queue. */
  countDelayed(queue: string): Promise<number>;
  /**
   * Whether a message published to `queue` with `deliverAt` will be made ready on time by
   * someone running now. Only where that depends on who consumes the queue: on Redis, the
   * broker's delay store is moved by live Celeriac consumers only (Python Celery workers do not
   * move it). Undefined where the broker itself moves delayed messages (RabbitMQ, memory,
   * SQLite).
   */
  hasDelayedMover?(queue: string): Promise<boolean>;
  /** The queue's dead letters: messages that could not be processed, with the reason. */
  readonly deadLetters: DeadLetterStore;
  /**
   * kombu's broadcast and reply plumbing, for Celery's remote control (`celery inspect`,
   * `app.control`): undefined where the transport does not have it.
   */
  readonly control?: ControlChannel;
  /** Closes what the broker opened itself. Idempotent. */
  close(): Promise<void>;
}

/**
 * What Celery's remote control (kombu's pidbox) needs from a transport: messages published to
 * a fanout exchange reach every listener, and replies go to a direct exchange, where kombu's
 * bindings route them to the asking client's reply queue.
 */
export interface ControlChannel {
  /**
   * Receives what is published to the fanout `exchange` from now on (on Redis: kombu's
   * `PUBLISH /<db>.<exchange>`). Messages that are not kombu envelopes are dropped.
   */
  listen(
    exchange: string,
    onMessage: (message: BrokerMessage) => void,
    options?: ExchangeRoute,
  ): Promise<ControlListener>;
  /**
   * Publishes to the direct `exchange` with `routingKey`: to every queue bound with that key.
   * Resolves with how many queues it reached (0 when the asker already went away).
   */
  send(exchange: string, routingKey: string, message: BrokerMessage): Promise<number>;
  /**
   * Publishes to the fanout (or, with `options.exchangeType`, topic) `exchange`: every
   * listener at that moment whose binding matches receives it.
   */
  broadcast(exchange: string, message: BrokerMessage, options?: ExchangeRoute): Promise<void>;
  /**
   * `broadcast` of a UTF-8 text body (Celery's JSON events), for a transport that can carry
   * text as it is: on Redis the envelope holds it as a string, not base64 (kombu reads an
   * envelope with no `body_encoding` as text). Optional: callers fall back to `broadcast`.
   */
  broadcastText?(
    exchange: string,
    text: string,
    message: Omit<BrokerMessage, 'body'>,
    options?: ExchangeRoute,
  ): Promise<void>;
  /**
   * A reply queue of this process, bound to the direct `exchange` with `routingKey` and read
   * until closed (closing removes it): where replies to a broadcast come back.
   */
  openReplies(
    exchange: string,
    routingKey: string,
    onMessage: (message: BrokerMessage) => void,
  ): Promise<ControlListener>;
}

/**
 * Where a broadcast goes and what a listener hears, beyond a plain fanout: Celery's events
 * (`celeryev`) are a durable topic exchange on RabbitMQ and, on Redis, kombu's fanout with
 * `fanout_patterns`, a pub/sub channel per routing key (`/<db>.celeryev/task.multi`).
 */
export interface ExchangeRoute {
  /**
   * The routing key a broadcast carries, or the binding key a listener uses (AMQP topic
   * wildcards `#` and `*`; on Redis `#` becomes a pattern subscription).
   */
  routingKey?: string;
  /** How RabbitMQ declares the exchange. @default 'fanout' */
  exchangeType?: 'fanout' | 'topic';
  /** Whether RabbitMQ declares the exchange durable (it must match other declarers). @default false */
  durable?: boolean;
}

/** Celery's pidbox exchanges (`app.control.mailbox`, namespace `celery`). */
export const PIDBOX_EXCHANGE = 'celery.pidbox';
export const PIDBOX_REPLY_EXCHANGE = 'reply.celery.pidbox';

export interface ControlListener {
  close(): Promise<void>;
}

export type BrokerKind = 'memory' | 'redis' | 'amqp' | 'sqlite';

export interface PublishOptions {
  /** Epoch milliseconds before which the message must not be delivered. */
  deliverAt?: number;
}

export interface PublishItem {
  queue: string;
  message: BrokerMessage;
  options?: PublishOptions;
}

export interface ConsumeOptions {
  queues: readonly string[];
  /** The most deliveries this consumer holds unsettled at once. */
  prefetch: number;
  /** Called for each delivery, in the broker's order. Must not throw. */
  onMessage: (delivery: Delivery) => void;
  /** Called when the broker loses its connection or hits an error it will retry. */
  onError?: (error: Error) => void;
}

export interface Consumer {
  /**
   * Stops fetching new messages. Deliveries already handed out stay unsettled: the caller
   * settles them (ack, requeue, dead-letter). Idempotent.
   */
  cancel(): Promise<void>;
}

/**
 * One delivered message. Exactly one of `ack`, `requeue` and `deadLetter` settles it; a
 * second settle is ignored.
 */
export interface Delivery {
  readonly message: BrokerMessage;
  readonly queue: string;
  /** Transport identity of this delivery (kombu's `delivery_tag` on Redis). */
  readonly deliveryTag: string;
  /** True when the message was delivered before (requeued or restored after a crash). */
  readonly redelivered: boolean;
  /** The message is done; the broker forgets it. */
  ack(): Promise<void>;
  /** Gives the message back to its queue, to be delivered again. */
  requeue(): Promise<void>;
  /** Moves the message to its queue's dead letters with a reason an operator can read. */
  deadLetter(reason: DeadLetterReason): Promise<void>;
  /**
   * Fused store-and-ack, as a capability: the transport's own handle for settling this
   * delivery together with a result write on the same server, in one step (one Redis round
   * trip, one SQLite transaction, one AMQP channel in frame order). A result backend of the
   * same transport family (`transport`) on the same server (`target`) uses it; every other
   * caller stores, then calls `ack()`. The handle's operations are the transport's business
   * and are typed in its internal subpath (`@celeriac/broker/<transport>/internal`), so this
   * contract never carries Redis commands or AMQP channel details.
   *
   * Undefined when the transport has no such step or the delivery is already settled.
   */
  fusedAck?(): FusedAck | undefined;
}

/** See `Delivery.fusedAck`. */
export interface FusedAck {
  /** The transport family that made it; a result backend uses only its own family's. */
  readonly transport: Exclude<BrokerKind, 'memory'>;
  /**
   * The server the ack lives on, normalised by the transport (`redis://host:port/db`, the
   * `amqpTarget()` form, a SQLite file's absolute path), so a backend can tell whether its
   * writes land there too.
   */
  readonly target: string;
}

export interface DeadLetterReason {
  /** A stable error code, such as `CELERIAC_ERR_UNKNOWN_TASK`. */
  code: string;
  /** What went wrong, in a sentence. */
  message: string;
}

export interface DeadLetter {
  /** Identity within the dead-letter store, used to replay one. */
  id: string;
  /** The queue the message came from, where a replay sends it back. */
  queue: string;
  reason: DeadLetterReason;
  /** Epoch milliseconds. */
  deadAt: number;
  message: BrokerMessage;
}

/** Dead letters are capped and kept for a bounded time by each implementation. */
export interface DeadLetterStore {
  list(queue: string, options?: { limit?: number }): Promise<DeadLetter[]>;
  /** Sends dead letters back to their queue (all, or those with the given ids); returns how many. */
  replay(queue: string, ids?: readonly string[]): Promise<number>;
  /** Deletes a queue's dead letters; returns how many. */
  purge(queue: string): Promise<number>;
  count(queue: string): Promise<number>;
}
