import { setTimeout as sleep } from 'node:timers/promises';
import type { BrokerMessage, ControlChannel, ControlListener, ExchangeRoute } from '@celeriac/core';
import type { Channel } from 'amqplib';
import { fromAmqpMessage, toPublishOptions } from './codec.js';
import type { AmqpContext } from './context.js';

/**
 * kombu's pidbox exchanges on RabbitMQ, as Celery's remote control declares them: the mailbox
 * a non-durable fanout exchange, replies a non-durable direct exchange (declared alike here, or
 * RabbitMQ refuses the declaration). A listener reads the fanout through an exclusive queue of
 * its own, declared again after a reconnection. Celery's events exchange (`celeryev`) is a
 * durable topic exchange: the caller says so with an `ExchangeRoute`.
 */

type ExchangeType = 'direct' | 'fanout' | 'topic';

interface Binding {
  exchange: string;
  type: ExchangeType;
  durable: boolean;
  routingKey: string;
}
export class AmqpControlChannel implements ControlChannel {
  readonly #ctx: AmqpContext;
  readonly #declared = new Map<string, Promise<void>>();
  readonly #listeners = new Set<AmqpControlListener>();

  constructor(ctx: AmqpContext) {
    this.#ctx = ctx;
  }

  async listen(
    exchange: string,
    onMessage: (message: BrokerMessage) => void,
    options: ExchangeRoute = {},
  ): Promise<ControlListener> {
    const listener = new AmqpControlListener(
      this.#ctx,
      {
        exchange,
        type: options.exchangeType ?? 'fanout',
        durable: options.durable ?? false,
        routingKey: options.routingKey ?? '',
      },
      onMessage,
      () => this.#listeners.delete(listener),
    );
    await listener.start();
    this.#listeners.add(listener);
    return listener;
  }

  /** Publishes with a confirm; 1 when RabbitMQ routed it, rejected when no queue took it. */
  async send(exchange: string, routingKey: string, message: BrokerMessage): Promise<number> {
    await this.#ctx.publishJobs([
      {
        queue: `${exchange} (${routingKey})`,
        exchange,
        routingKey,
        content: message.body,
        options: { ...toPublishOptions(message), deliveryMode: 1 },
        prepare: () => this.#declare(exchange, 'direct', false),
      },
    ]);
    return 1;
  }

  /** Publishes with a confirm to the fanout (or topic) exchange; no listener is not an error. */
  async broadcast(
    exchange: string,
    message: BrokerMessage,
    options: ExchangeRoute = {},
  ): Promise<void> {
    const type = options.exchangeType ?? 'fanout';
    const durable = options.durable ?? false;
    await this.#ctx.publishJobs([
      {
        queue: exchange,
        exchange,
        routingKey: options.routingKey ?? '',
        content: message.body,
        options: { ...toPublishOptions(message), deliveryMode: 1, mandatory: false },
        prepare: () => this.#declare(exchange, type, durable),
      },
    ]);
  }

  async openReplies(
    exchange: string,
    routingKey: string,
    onMessage: (message: BrokerMessage) => void,
  ): Promise<ControlListener> {
    await this.#declare(exchange, 'direct', false);
    const listener = new AmqpControlListener(
      this.#ctx,
      { exchange, type: 'direct', durable: false, routingKey },
      onMessage,
      () => this.#listeners.delete(listener),
    );
    await listener.start();
    this.#listeners.add(listener);
    return listener;
  }

  #declare(exchange: string, type: ExchangeType, durable: boolean): Promise<void> {
    let declared = this.#declared.get(exchange);
    if (!declared) {
      declared = this.#ctx.admin
        .run(`declare exchange ${exchange}`, async (ch) => {
          await ch.assertExchange(exchange, type, { durable, autoDelete: false });
        })
        .catch((err: unknown) => {
          this.#declared.delete(exchange);
          throw err;
        });
      this.#declared.set(exchange, declared);
    }
    return declared;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#listeners].map((l) => l.close()));
  }
}

class AmqpControlListener implements ControlListener {
  readonly #ctx: AmqpContext;
  readonly #binding: Binding;
  readonly #onMessage: (message: BrokerMessage) => void;
  readonly #forget: () => void;
  #channel: Channel | undefined;
  #closed = false;

  constructor(
    ctx: AmqpContext,
    binding: Binding,
    onMessage: (m: BrokerMessage) => void,
    forget: () => void,
  ) {
    this.#ctx = ctx;
    this.#binding = binding;
    this.#onMessage = onMessage;
    this.#forget = forget;
  }

  async start(): Promise<void> {
    const model = await this.#ctx.consumeConnection.acquire('remote control');
    const ch = await model.createChannel();
    ch.on('error', () => undefined);
    try {
      const { exchange, type, durable, routingKey } = this.#binding;
      await ch.assertExchange(exchange, type, { durable, autoDelete: false });
      const { queue } = await ch.assertQueue('', {
        exclusive: true,
        autoDelete: true,
        durable: false,
      });
      await ch.bindQueue(queue, exchange, routingKey);
      await ch.consume(
        queue,
        (m) => {
          if (m) this.#onMessage(fromAmqpMessage(m));
        },
        { noAck: true },
      );
    } catch (err) {
      await ch.close().catch(() => undefined);
      throw err;
    }
    this.#channel = ch;
    ch.once('close', () => {
      if (this.#channel === ch) this.#channel = undefined;
      if (!this.#closed) void this.#restart();
    });
  }

  /** The channel or its connection went away: listen again once RabbitMQ is back. */
  async #restart(): Promise<void> {
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        await this.start();
        return;
      } catch (err) {
        this.#ctx.options.logger.debug({ err }, 'remote control: listening again failed; retrying');
        await sleep(Math.min(200 * 2 ** attempt, 5_000));
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#forget();
    const ch = this.#channel;
    this.#channel = undefined;
    await ch?.close().catch(() => undefined);
  }
}
