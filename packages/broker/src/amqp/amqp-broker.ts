import {
  CeleriacError,
  ErrorCodes,
  isCeleriacError,
  type Broker,
  type BrokerMessage,
  type ConsumeOptions,
  type Consumer,
  type ControlChannel,
  type DeadLetterReason,
  type PublishItem,
  type PublishOptions,
} from '@celeriac/core';
import type { Channel } from 'amqplib';
import { AdminChannel } from './admin-channel.js';
import { DELIVER_AT_HEADER } from './codec.js';
import { AmqpConnection } from './connection.js';
import { brokerRefused, channelErrorCode } from './errors.js';
import { AmqpConsumer } from './consumer.js';
import type { AmqpContext } from './context.js';
import { AmqpControlChannel } from './control.js';
import { AmqpDeadLetterStore, deadLetterJob } from './dead-letters.js';
import { delayRoute } from './delay.js';
import {
  compileAmqpBrokerOptions,
  type AmqpBrokerOptions,
  type CompiledAmqpBrokerOptions,
} from './options.js';
import { encodeMessageProperties } from './publish-frames.js';
import { Publisher, publishFailed, type PublishJob } from './publisher.js';
import { delayLevel, Topology } from './topology.js';

export type AmqpBrokerState = 'open' | 'closing' | 'closed';

/** The longest queue name that leaves room for the delay levels' prefix within AMQP's 255 bytes. */
const MAX_QUEUE_NAME_BYTES = 255 - 'celeriac.delay.00.'.length;

/** How long `close()` waits for RabbitMQ to confirm what was already written. */
const CLOSE_GRACE_MS = 5_000;

/**
 * `Broker` on RabbitMQ (AMQP 0-9-1, through amqplib), in Celery's topology (DESIGN.md §3), so
 * Python Celery clients and workers share its queues: durable queues bound to a direct, durable
 * exchange with their name as routing key; tasks published to the default exchange with the queue
 * name as routing key; Celery's headers as AMQP headers; `correlation_id`, `reply_to`,
 * `delivery_mode` 2 and `priority` as AMQP properties.
 *
 * What Celery lacks is added beside it, in `celeriac.*` exchanges and queues (see `topology.ts`):
 * per-queue dead-letter queues, and per-queue delay levels, so a countdown, an ETA or a retry
 * waits in RabbitMQ rather than unacked in a worker (which RabbitMQ's `consumer_timeout` ends).
 *
 * - Publishing uses publisher confirms, batched: `publish()` resolves once RabbitMQ has the
 *   message; a `basic.nack` or a returned message (no queue took it) rejects.
 * - Consuming uses a per-consumer prefetch, never a global QoS, and manual acks after the task.
 * - Two connections, one for publishing, one for consuming (and declarations and queries), as
 *   RabbitMQ advises: a memory alarm blocks the publishing one, never the acks that relieve it.
 * - Recovery: either connection reconnects with backoff; the topology is declared again,
 *   consumers resume by themselves, unconfirmed messages are published again.
 *
 * Priorities: on AMQP a higher number is served first (9 before 0), the reverse of Redis. They
 * need `maxPriority` (Celery: `task_queue_max_priority`) on classic queues.
 *
 * @example
 * ```ts
 * const broker = new AmqpBroker({ url: 'amqp://guest:guest@localhost:5672//' });
 * await broker.declareQueue('celery');
 * const consumer = await broker.consume({
 *   queues: ['celery'],
 *   prefetch: 10,
 *   onMessage: (d) => void d.ack(),
 * });
 * ```
 */
export class AmqpBroker implements Broker {
  readonly kind = 'amqp' as const;
  readonly deadLetters: AmqpDeadLetterStore;
  readonly #o: CompiledAmqpBrokerOptions;
  readonly #publishConnection: AmqpConnection;
  readonly #consumeConnection: AmqpConnection;
  readonly #adminConnection: AmqpConnection;
  readonly #control: AmqpControlChannel;
  readonly #admin: AdminChannel;
  readonly #topology: Topology;
  readonly #publisher: Publisher;
  readonly #ctx: AmqpContext;
  readonly #consumers = new Set<AmqpConsumer>();
  #state: AmqpBrokerState = 'open';
  #closing: Promise<void> | undefined;

  constructor(options: AmqpBrokerOptions) {
    this.#o = compileAmqpBrokerOptions(options);
    const o = this.#o;
    const connection = (use: string): AmqpConnection =>
      new AmqpConnection({
        url: o.url,
        role: 'broker',
        name: `${o.connectionName} ${use}`,
        heartbeat: o.heartbeat,
        connectTimeoutMs: o.connectTimeoutMs,
        reconnectInitialDelayMs: o.reconnectInitialDelayMs,
        reconnectMaxDelayMs: o.reconnectMaxDelayMs,
        socketOptions: o.socketOptions,
        failoverStrategy: o.failoverStrategy,
        logger: o.logger,
      });
    this.#publishConnection = connection('publish');
    this.#consumeConnection = connection('consume');
    // Declarations and queries go on a connection that never publishes: RabbitMQ stops reading
    // a publishing connection altogether during a memory or disk alarm, and a count() must not
    // hang on one. The consuming connection publishes rpc:// results (AmqpFusedAck.replyThenAck).
    this.#adminConnection = connection('admin');
    this.#admin = new AdminChannel(this.#adminConnection, o.connectTimeoutMs);
    this.#topology = new Topology(this.#admin, o);
    // A new connection may reach a node that lost its definitions: declare everything again.
    for (const c of [this.#adminConnection, this.#consumeConnection]) {
      c.on('open', (_model: unknown, generation: number) => {
        if (generation > 1) this.#topology.reset();
      });
    }
    this.#publisher = new Publisher(this.#publishConnection, o.logger, {
      onReturned: (queue) => this.#topology.forget(queue),
      onChannelError: (code) => {
        if (code === 404) this.#topology.reset();
      },
    });
    this.#ctx = {
      options: o,
      consumeConnection: this.#consumeConnection,
      adminConnection: this.#adminConnection,
      admin: this.#admin,
      topology: this.#topology,
      publish: (items) => this.#publishItems(items),
      publishJobs: (jobs) => this.#publisher.publish(jobs),
      deadLetter: (queue: string, message: BrokerMessage, reason: DeadLetterReason) =>
        this.#publisher.publish([deadLetterJob(this.#ctx, queue, message, reason)]),
    };
    this.deadLetters = new AmqpDeadLetterStore(this.#ctx);
    this.#control = new AmqpControlChannel(this.#ctx);
  }

  /** Celery's remote control plumbing (kombu's pidbox exchanges on RabbitMQ). */
  get control(): ControlChannel {
    return this.#control;
  }

  get state(): AmqpBrokerState {
    return this.#state;
  }

  /**
   * Declares the queue as Celery does (durable, bound to its exchange with its name as routing
   * key, with `x-max-priority` / `x-queue-type` / `queueArguments` when configured), and its
   * dead-letter queue. Once per connection; publishing and consuming declare by themselves.
   */
  async declareQueue(queue: string): Promise<void> {
    this.#assertOpen('declareQueue');
    assertQueue(queue);
    await this.#run('declareQueue', () => this.#topology.ensureQueue(queue));
  }

  async publish(queue: string, message: BrokerMessage, options?: PublishOptions): Promise<void> {
    this.#assertOpen('publish');
    await this.#publishItems([{ queue, message, ...(options ? { options } : {}) }]);
  }

  async publishMany(items: readonly PublishItem[]): Promise<void> {
    this.#assertOpen('publishMany');
    if (items.length === 0) return;
    await this.#publishItems(items);
  }

  async #publishItems(items: readonly PublishItem[]): Promise<void> {
    // Encoded now: what the caller does with the message afterwards does not reach RabbitMQ.
    const jobs = items.map((i) => this.#job(i.queue, i.message, i.options));
    try {
      await this.#publisher.publish(jobs);
    } catch (err) {
      throw publishFailed(this.#translate(err, 'publish'), items[0]!.queue);
    }
  }

  /**
   * A message due now goes to the default exchange with the queue name as routing key, as Celery
   * publishes. A later one goes to the delay level of its delay's highest bit, with the bits as
   * routing key; it leaves the levels into its queue when due. `expiration` is not kept on a
   * delayed message: RabbitMQ would expire it inside a level and send it on early.
   */
  #job(queue: string, message: BrokerMessage, options: PublishOptions | undefined): PublishJob {
    assertQueue(queue);
    const deliverAt = options?.deliverAt;
    const route =
      deliverAt === undefined
        ? undefined
        : delayRoute(deliverAt - this.#o.clock.now(), this.#o.delayLevels);
    if (!route) {
      return {
        queue,
        exchange: '',
        routingKey: queue,
        content: message.body,
        options: encodeMessageProperties(message),
        prepare: () => this.#topology.ensureQueue(queue),
      };
    }
    const { expiration: _dropped, ...properties } = message.properties;
    const extra = route.capped ? { [DELIVER_AT_HEADER]: Math.ceil(deliverAt!) } : undefined;
    return {
      queue,
      exchange: delayLevel(queue, route.topLevel),
      routingKey: route.routingKey,
      content: message.body,
      options: encodeMessageProperties({ ...message, properties }, extra),
      prepare: () => this.#topology.ensureDelay(queue, route.topLevel),
    };
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    this.#assertOpen('consume');
    if (options.queues.length === 0) {
      throw new CeleriacError(ErrorCodes.INVALID_OPTION, 'consume() needs at least one queue', {
        details: { option: 'queues' },
      });
    }
    for (const q of options.queues) assertQueue(q);
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1 || options.prefetch > 65_535) {
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `consume() prefetch must be an integer from 1 to 65535, got ${String(options.prefetch)}`,
        { details: { option: 'prefetch' } },
      );
    }
    const consumer = new AmqpConsumer(
      this.#ctx,
      { ...options, queues: [...new Set(options.queues)] },
      (c) => this.#consumers.delete(c),
    );
    this.#consumers.add(consumer);
    try {
      await consumer.start();
    } catch (err) {
      this.#consumers.delete(consumer);
      throw this.#translate(err, 'consume');
    }
    if (this.#state !== 'open') {
      await consumer.shutdown();
      this.#assertOpen('consume');
    }
    return consumer;
  }

  /** Deletes the queue's ready messages (`queue.purge`); unacked and delayed ones stay. */
  async purge(queue: string): Promise<number> {
    this.#assertOpen('purge');
    assertQueue(queue);
    return this.#run('purge', () =>
      this.#admin.run('purge', async (ch) => orZero(() => ch.purgeQueue(queue))),
    );
  }

  /** Ready messages (`messageCount` of a passive declare); 0 for a queue that does not exist. */
  async count(queue: string): Promise<number> {
    this.#assertOpen('count');
    assertQueue(queue);
    return this.#run('count', () =>
      this.#admin.run('count', async (ch) => orZero(() => ch.checkQueue(queue))),
    );
  }

  /** Messages in the queue's delay levels (levels are declared from 0 up, so it stops at the first missing one). */
  async countDelayed(queue: string): Promise<number> {
    this.#assertOpen('countDelayed');
    assertQueue(queue);
    return this.#run('countDelayed', () =>
      this.#admin.run('countDelayed', async (ch: Channel) => {
        let n = 0;
        for (let level = 0; level < this.#o.delayLevels; level++) {
          try {
            n += (await ch.checkQueue(delayLevel(queue, level))).messageCount;
          } catch (err) {
            if (channelErrorCode(err) === 404) break;
            throw err;
          }
        }
        return n;
      }),
    );
  }

  /**
   * Cancels the consumers and closes their channels (RabbitMQ requeues what they held, marked
   * redelivered), waits a little for RabbitMQ to confirm messages already written, then closes
   * both connections. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#state = 'closing';
    await Promise.allSettled([...this.#consumers].map((c) => c.shutdown()));
    await this.#control.close();
    await this.#publisher.close(CLOSE_GRACE_MS);
    await Promise.allSettled(
      [this.#publishConnection, this.#consumeConnection, this.#adminConnection].map((c) =>
        c.close(),
      ),
    );
    this.#state = 'closed';
  }

  #assertOpen(what: string): void {
    if (this.#state !== 'open') {
      throw new CeleriacError(ErrorCodes.CLOSED, `AmqpBroker.${what}() called after close()`);
    }
  }

  async #run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.#translate(err, what);
    }
  }

  #translate(err: unknown, what: string): Error {
    if (isCeleriacError(err)) return err;
    if (channelErrorCode(err) !== undefined) return brokerRefused(this.#o.url, err, what);
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** Runs a queue operation, answering 0 when the queue does not exist (404, which closes the channel). */
async function orZero(fn: () => Promise<{ messageCount: number }>): Promise<number> {
  try {
    return (await fn()).messageCount;
  } catch (err) {
    if (channelErrorCode(err) === 404) return 0;
    throw err;
  }
}

function assertQueue(queue: string): void {
  if (
    typeof queue !== 'string' ||
    queue === '' ||
    Buffer.byteLength(queue) > MAX_QUEUE_NAME_BYTES
  ) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `invalid queue name ${JSON.stringify(queue)}: it must be a non-empty string of at most ${MAX_QUEUE_NAME_BYTES} bytes`,
      { details: { option: 'queue' } },
    );
  }
  if (queue.startsWith('amq.')) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `invalid queue name ${JSON.stringify(queue)}: RabbitMQ reserves names starting with "amq."`,
      { details: { option: 'queue' } },
    );
  }
}
