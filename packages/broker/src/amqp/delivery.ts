import type { BrokerMessage, DeadLetterReason, Delivery, DeliveryReply } from '@celeriac/core';
import type { Channel, Message } from 'amqplib';

export type AmqpDeliveryState = 'held' | 'settled';

/** What a delivery needs from the consumer that received it. */
export interface DeliveryLink {
  /** `amqpTarget()` of the server the delivery came from. */
  readonly target: string | undefined;
  /** True while RabbitMQ has blocked the consuming connection (a memory or disk alarm). */
  blocked(): boolean;
  /** The channel the delivery came on while it is still open; once it closed, RabbitMQ has requeued the message. */
  channel(): Channel | undefined;
  /** Called once, when the delivery is settled. */
  settled(): void;
  /** Resolves once RabbitMQ has processed what was sent on the channel before (an RPC round trip). */
  sync(): Promise<void>;
  /** Publishes a copy of the message to its queue's dead letters and resolves when confirmed. */
  deadLetter(message: BrokerMessage, reason: DeadLetterReason): Promise<void>;
}

/**
 * One message a consumer holds unacked. Settling writes on the channel it came on; if that
 * channel is gone (the connection dropped), RabbitMQ has already put the message back in its
 * queue and will deliver it again, so settling does nothing: at least once, never zero times.
 */
export class AmqpDelivery implements Delivery {
  readonly message: BrokerMessage;
  readonly queue: string;
  readonly deliveryTag: string;
  readonly redelivered: boolean;
  readonly #raw: Message;
  readonly #link: DeliveryLink;
  #state: AmqpDeliveryState = 'held';

  constructor(
    link: DeliveryLink,
    init: { message: BrokerMessage; queue: string; tag: string; raw: Message },
  ) {
    this.#link = link;
    this.#raw = init.raw;
    this.message = init.message;
    this.queue = init.queue;
    this.deliveryTag = init.tag;
    this.redelivered = init.raw.fields.redelivered;
  }

  get state(): AmqpDeliveryState {
    return this.#state;
  }

  /**
   * Marks the delivery settled (false when it already was). The consumer learns of it only once
   * the settle reached the channel (`done`): it may close the channel when its last delivery
   * is settled, and that must not overtake the settle.
   */
  #settle(): boolean {
    if (this.#state === 'settled') return false;
    this.#state = 'settled';
    return true;
  }

  /** `basic.ack`. AMQP does not answer an ack, so this resolves once it is written. */
  ack(): Promise<void> {
    if (!this.#settle()) return Promise.resolve();
    this.#write((ch) => ch.ack(this.#raw));
    this.#link.settled();
    return Promise.resolve();
  }

  /**
   * Publishes `reply` (transient) to the default exchange on this delivery's channel, then acks
   * it there: RabbitMQ processes both in that order, so no confirm round trip is needed for the
   * ack to follow the reply. On a channel that is gone, sends neither: the message is back in
   * its queue. Undefined (nothing done) for another server, when already settled, or while
   * RabbitMQ blocks the connection: publishing on it then would stop RabbitMQ reading its
   * acks too, so the caller publishes on its own connection instead.
   */
  replyThenAck(target: string, reply: DeliveryReply): Promise<void> | undefined {
    if (this.#state === 'settled' || target !== this.#link.target || this.#link.blocked()) {
      return undefined;
    }
    this.#settle();
    this.#write((ch) => {
      ch.publish('', reply.queue, reply.body, {
        contentType: reply.contentType,
        contentEncoding: reply.contentEncoding,
        correlationId: reply.correlationId,
        deliveryMode: 1,
        ...(reply.expiration === undefined ? {} : { expiration: reply.expiration }),
      });
      ch.ack(this.#raw);
    });
    this.#link.settled();
    return Promise.resolve();
  }

  /**
   * `basic.nack` with requeue, as Celery's `reject(requeue=True)`: RabbitMQ puts the message back
   * where it was, at the head of its queue. Resolves once RabbitMQ has processed it.
   */
  async requeue(): Promise<void> {
    if (!this.#settle()) return;
    try {
      if (this.#write((ch) => ch.nack(this.#raw, false, true))) {
        await this.#link.sync().catch(() => undefined);
      }
    } finally {
      this.#link.settled();
    }
  }

  /**
   * Publishes a copy, with the reason in its headers, to the queue's dead letters, and acks the
   * original once RabbitMQ confirmed the copy. If the copy cannot be published, the original is
   * requeued and the error thrown.
   */
  async deadLetter(reason: DeadLetterReason): Promise<void> {
    if (!this.#settle()) return;
    try {
      if (!this.#link.channel()) return; // already back in its queue
      try {
        await this.#link.deadLetter(this.message, reason);
      } catch (err) {
        this.#write((ch) => ch.nack(this.#raw, false, true));
        throw err;
      }
      this.#write((ch) => ch.ack(this.#raw));
    } finally {
      this.#link.settled();
    }
  }

  #write(fn: (ch: Channel) => void): boolean {
    const ch = this.#link.channel();
    if (!ch) return false;
    try {
      fn(ch);
      return true;
    } catch {
      return false; // the channel closed just now: RabbitMQ requeues the message
    }
  }
}
