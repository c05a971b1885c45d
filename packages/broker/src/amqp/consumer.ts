import { setTimeout as sleep } from 'node:timers/promises';
import { isCeleriacError, type ConsumeOptions, type Consumer } from '@celeriac/core';
import { amqpTarget } from '@celeriac/core/internal';
import type { Channel, ConsumeMessage } from 'amqplib';
import { ackBatchOf } from './ack-batch.js';
import { DELIVER_AT_HEADER, fromAmqpMessage } from './codec.js';
import { brokerRefused, brokerUnavailable, channelErrorCode } from './errors.js';
import type { AmqpContext } from './context.js';
import { AmqpDelivery, type DeliveryLink } from './delivery.js';

export type AmqpConsumerState = 'starting' | 'consuming' | 'recovering' | 'cancelled';

interface Buffered {
  readonly ch: Channel;
  readonly queue: string;
  readonly msg: ConsumeMessage;
}

let consumerIds = 0;

/**
 * One `consume()` call: its own channel on the consuming connection, one AMQP consumer per
 * queue, each with a per-consumer prefetch (`basic.qos` with global=false, which quorum queues
 * and RabbitMQ 4 require; Celery's global QoS is what breaks there). Messages are acked by the
 * application after its task ran, never on receipt.
 *
 * With several queues RabbitMQ may send up to `prefetch` per queue; the consumer hands the
 * application at most `prefetch` unsettled deliveries in all and keeps the rest (unacked, still
 * owned by RabbitMQ) until a slot frees, or gives them back when cancelled.
 *
 * Recovery: when the channel or the connection drops, RabbitMQ requeues what the consumer held;
 * the consumer opens a new channel as soon as the connection is back, declares its queues again
 * and resumes, with no action from the application. Deliveries from the old channel still count
 * against `prefetch` until the application settles them (which then does nothing), so a
 * reconnection never doubles the work in progress. When RabbitMQ cancels a consumer itself (its
 * queue was deleted, a quorum leader moved), the queue is declared again and consumed again.
 */
export class AmqpConsumer implements Consumer {
  readonly #id = `c${++consumerIds}`;
  readonly #ctx: AmqpContext;
  readonly #o: ConsumeOptions;
  readonly #onCancelled: (c: AmqpConsumer) => void;
  #state: AmqpConsumerState = 'starting';
  #channel: Channel | undefined;
  #channelSeq = 0;
  readonly #tags = new Map<string, string>();
  readonly #target: string | undefined;
  /** Deliveries handed out and not settled, on any channel. */
  #handed = 0;
  /** Of those, the ones on the current channel. */
  #live = 0;
  #buffer: Buffered[] = [];
  #cancelling: Promise<void> | undefined;
  #recovering = false;
  #links: { ch: Channel; byQueue: Map<string, DeliveryLink> } | undefined;

  constructor(ctx: AmqpContext, options: ConsumeOptions, onCancelled: (c: AmqpConsumer) => void) {
    this.#target = amqpTarget(ctx.consumeConnection.url);
    this.#ctx = ctx;
    this.#o = options;
    this.#onCancelled = onCancelled;
  }

  get state(): AmqpConsumerState {
    return this.#state;
  }

  /** Subscribes; rejects (with `CELERIAC_ERR_BROKER_UNAVAILABLE`) when RabbitMQ cannot be reached. */
  async start(): Promise<void> {
    await this.#subscribe();
    if (this.#state !== 'starting') return;
    this.#state = 'consuming';
    if (this.#channel === undefined) {
      // It closed just as it was set up: recover as after any other loss.
      this.#state = 'recovering';
      if (!this.#recovering) void this.#recover();
    }
  }

  /**
   * Stops consuming (`basic.cancel`); messages received but not handed out go back to their
   * queue. The channel stays open until the deliveries already handed out are settled.
   */
  cancel(): Promise<void> {
    this.#cancelling ??= this.#cancel();
    return this.#cancelling;
  }

  /** Cancels and closes the channel at once: RabbitMQ requeues whatever is unsettled. */
  async shutdown(): Promise<void> {
    await this.cancel();
    await this.#closeChannel();
  }

  /** Read through a method: the state changes while an operation awaits. */
  #isCancelled(): boolean {
    return this.#state === 'cancelled';
  }

  /** Reports an error to the application (`onError`), never throwing. */
  report(err: Error): void {
    if (this.#state === 'cancelled') return;
    try {
      this.#o.onError?.(err);
    } catch (e) {
      this.#ctx.options.logger.error({ err: e }, 'a consumer onError callback threw');
    }
  }

  async #cancel(): Promise<void> {
    this.#state = 'cancelled';
    const ch = this.#channel;
    if (ch) {
      for (const tag of this.#tags.values()) {
        try {
          await ch.cancel(tag);
        } catch {
          // the channel is gone: nothing is delivered on it any more
        }
      }
    }
    this.#tags.clear();
    this.#requeueBuffer();
    if (this.#live === 0) await this.#closeChannel();
    this.#onCancelled(this);
  }

  async #closeChannel(): Promise<void> {
    const ch = this.#channel;
    this.#channel = undefined;
    this.#live = 0;
    if (!ch) return;
    ackBatchOf(ch).flush(); // acks made this turn go before the close
    await ch.close().catch(() => undefined);
  }

  async #subscribe(): Promise<void> {
    const model = await this.#ctx.consumeConnection.acquire('consume');
    let ch: Channel;
    try {
      ch = await model.createChannel();
    } catch (err) {
      throw this.#translate(err, 'consume'); // the connection dropped meanwhile
    }
    this.#channelSeq++;
    this.#channel = ch;
    this.#live = 0;
    ch.on('error', (err: unknown) => {
      this.report(this.#translate(err, 'consume'));
    });
    ch.on('close', () => this.#channelClosed(ch));
    try {
      await ch.prefetch(this.#o.prefetch, false);
      for (const queue of this.#o.queues) {
        await this.#ctx.topology.ensureQueue(queue);
        await this.#consumeQueue(ch, queue);
      }
      if (this.#state === 'cancelled' && this.#channel === ch && this.#live === 0) {
        await this.#closeChannel(); // cancelled while subscribing
      }
    } catch (err) {
      if (this.#channel === ch) this.#channel = undefined;
      await ch.close().catch(() => undefined);
      throw this.#translate(err, 'consume');
    }
  }

  async #consumeQueue(ch: Channel, queue: string): Promise<void> {
    const { consumerTag } = await ch.consume(queue, (msg) => this.#onMessage(ch, queue, msg), {
      noAck: false,
    });
    if (this.#state === 'cancelled' || this.#channel !== ch) {
      await ch.cancel(consumerTag).catch(() => undefined);
      return;
    }
    this.#tags.set(queue, consumerTag);
  }

  #onMessage(ch: Channel, queue: string, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // RabbitMQ cancelled this consumer (basic.cancel): the queue was deleted, or moved.
      this.#tags.delete(queue);
      if (this.#state !== 'cancelled' && this.#channel === ch) void this.#resubscribe(ch, queue);
      return;
    }
    // Every delivery, before anything settles it: acks are batched up to the oldest one held.
    ackBatchOf(ch).received(msg);
    if (this.#state === 'cancelled' || this.#channel !== ch) {
      requeue(ch, msg);
      return;
    }
    const due = Number(
      (msg.properties.headers as Record<string, unknown> | undefined)?.[DELIVER_AT_HEADER],
    );
    if (Number.isFinite(due) && due > this.#ctx.options.clock.now()) {
      void this.#delayAgain(ch, queue, msg, due);
      return;
    }
    if (this.#handed < this.#o.prefetch) this.#hand(ch, queue, msg);
    else this.#buffer.push({ ch, queue, msg });
  }

  #hand(ch: Channel, queue: string, msg: ConsumeMessage): void {
    this.#handed++;
    this.#live++;
    const seq = this.#channelSeq;
    const delivery = new AmqpDelivery(this.#linkFor(ch, queue), {
      message: fromAmqpMessage(msg),
      queue,
      tag: `${this.#id}.${seq}.${msg.fields.deliveryTag}`,
      raw: msg,
    });
    try {
      this.#o.onMessage(delivery);
    } catch (err) {
      this.#ctx.options.logger.error({ err }, 'a consumer onMessage callback threw');
    }
  }

  /** The deliveries of one channel and queue share one link (not six closures per message). */
  #linkFor(ch: Channel, queue: string): DeliveryLink {
    if (this.#links?.ch !== ch) this.#links = { ch, byQueue: new Map() };
    let link = this.#links.byQueue.get(queue);
    if (link === undefined) {
      link = {
        target: this.#target,
        blocked: () => this.#ctx.consumeConnection.blocked,
        channel: () => (this.#channel === ch ? ch : undefined),
        settled: () => this.#settled(ch),
        sync: async () => {
          if (this.#channel === ch) await ch.prefetch(this.#o.prefetch, false);
        },
        deadLetter: (message, reason) => this.#ctx.deadLetter(queue, message, reason),
      };
      this.#links.byQueue.set(queue, link);
    }
    return link;
  }

  #settled(ch: Channel): void {
    this.#handed--;
    if (this.#channel === ch) this.#live--;
    if (this.#state === 'cancelled') {
      if (this.#live === 0 && this.#channel === ch) void this.#closeChannel();
      return;
    }
    while (this.#handed < this.#o.prefetch && this.#buffer.length > 0) {
      const next = this.#buffer.shift()!;
      if (next.ch === this.#channel) this.#hand(next.ch, next.queue, next.msg);
    }
  }

  #requeueBuffer(): void {
    for (const b of this.#buffer.splice(0)) requeue(b.ch, b.msg);
  }

  #channelClosed(ch: Channel): void {
    if (this.#channel !== ch) return;
    this.#channel = undefined;
    this.#live = 0;
    this.#tags.clear();
    this.#buffer = this.#buffer.filter((b) => b.ch !== ch);
    // While starting, start() fails and consume() rejects: nothing to recover.
    if (this.#state === 'cancelled' || this.#state === 'starting') return;
    this.#state = 'recovering';
    this.report(brokerUnavailable(this.#ctx.consumeConnection.url, 'the consumer channel closed'));
    if (!this.#recovering) void this.#recover();
  }

  async #recover(): Promise<void> {
    this.#recovering = true;
    try {
      await this.#recoverLoop();
    } finally {
      this.#recovering = false;
    }
  }

  async #recoverLoop(): Promise<void> {
    const {
      reconnectInitialDelayMs: reconnectInitialDelay,
      reconnectMaxDelayMs: reconnectMaxDelay,
      logger,
    } = this.#ctx.options;
    let delay = reconnectInitialDelay;
    while (this.#state === 'recovering') {
      try {
        await this.#subscribe();
        if (this.#state !== 'recovering') return;
        if (this.#channel === undefined) {
          await sleep(delay); // closed again already
          continue;
        }
        this.#state = 'consuming';
        logger.info({ queues: this.#o.queues }, 'consumer resumed after reconnecting to RabbitMQ');
        return;
      } catch (err) {
        if (this.#state !== 'recovering') return;
        this.report(err instanceof Error ? err : new Error(String(err)));
        await sleep(delay * (0.5 + Math.random() / 2));
        delay = Math.min(delay * 2, reconnectMaxDelay);
      }
    }
  }

  async #resubscribe(ch: Channel, queue: string): Promise<void> {
    const {
      reconnectInitialDelayMs: reconnectInitialDelay,
      reconnectMaxDelayMs: reconnectMaxDelay,
      logger,
    } = this.#ctx.options;
    logger.warn(
      { queue },
      'RabbitMQ cancelled the consumer (was the queue deleted?); consuming it again',
    );
    let delay = reconnectInitialDelay;
    while (this.#state !== 'cancelled' && this.#channel === ch && !this.#tags.has(queue)) {
      try {
        this.#ctx.topology.forget(queue);
        await this.#ctx.topology.ensureQueue(queue);
        if (this.#isCancelled() || this.#channel !== ch) return;
        await this.#consumeQueue(ch, queue);
        return;
      } catch (err) {
        this.report(this.#translate(err, 'consume'));
        await sleep(delay * (0.5 + Math.random() / 2));
        delay = Math.min(delay * 2, reconnectMaxDelay);
      }
    }
  }

  /** A message delayed longer than the delay levels cover came out early: it goes round again. */
  async #delayAgain(ch: Channel, queue: string, msg: ConsumeMessage, due: number): Promise<void> {
    try {
      await this.#ctx.publish([
        { queue, message: fromAmqpMessage(msg), options: { deliverAt: due } },
      ]);
      if (this.#channel === ch) ackBatchOf(ch).ack(msg);
    } catch (err) {
      this.report(this.#translate(err, 'delay'));
      // Left unacked, it comes back when the channel closes; requeued after a pause otherwise.
      setTimeout(() => {
        if (this.#channel === ch) requeue(ch, msg);
      }, 1000).unref();
    }
  }

  /** Anything but a Celeriac error is RabbitMQ refusing (a channel error) or going away. */
  #translate(err: unknown, what: string): Error {
    if (isCeleriacError(err)) return err;
    const url = this.#ctx.consumeConnection.url;
    if (channelErrorCode(err) !== undefined) return brokerRefused(url, err, what);
    return brokerUnavailable(url, err, what);
  }
}

function requeue(ch: Channel, msg: ConsumeMessage): void {
  try {
    ackBatchOf(ch).nack(msg, true);
  } catch {
    // the channel closed: RabbitMQ requeues it anyway
  }
}
