import type { BrokerMessage, DeadLetterReason, Delivery } from '@celeriac/core';
import type { Channel, Message } from 'amqplib';
import type { AmqpFusedAck, AmqpReply } from './fused-ack.js';
import { ackBatchOf } from './ack-batch.js';
import { encodeReplyProperties, publishEncoded } from './publish-frames.js';

export type AmqpDeliveryState = 'held' | 'settled';

/** Set by `AmqpDelivery`'s static block: the handle below reaches its private reply-then-ack. */
let replyThenAckOf: (d: AmqpDelivery, reply: AmqpReply) => Promise<void> | undefined;

/** `AmqpDelivery.fusedAck()`: one small object, its method on the prototype. */
class DeliveryFusedAck implements AmqpFusedAck {
  readonly transport = 'amqp' as const;
  readonly #delivery: AmqpDelivery;

  constructor(
    readonly target: string,
    delivery: AmqpDelivery,
  ) {
    this.#delivery = delivery;
  }

  replyThenAck(reply: AmqpReply): Promise<void> | undefined {
    return replyThenAckOf(this.#delivery, reply);
  }
}

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

  /**
   * `basic.ack`. AMQP does not answer an ack: it is written at the end of this event-loop turn,
   * with the channel's other acks of the turn (`AckBatch`), and this resolves at once.
   */
  ack(): Promise<void> {
    if (!this.#settle()) return Promise.resolve();
    this.#write((ch) => ackBatchOf(ch).ack(this.#raw));
    this.#link.settled();
    return Promise.resolve();
  }

  /**
   * The handle that sends an rpc:// reply and acks this delivery on its channel (see
   * `AmqpFusedAck`); undefined once settled, or when the server is not one `amqpTarget()` reads.
   */
  fusedAck(): AmqpFusedAck | undefined {
    const target = this.#link.target;
    if (this.#state === 'settled' || target === undefined) return undefined;
    return new DeliveryFusedAck(target, this);
  }

  static {
    replyThenAckOf = (d, reply) => d.#replyThenAck(reply);
  }

  #replyThenAck(reply: AmqpReply): Promise<void> | undefined {
    if (this.#state === 'settled' || this.#link.blocked()) return undefined;
    this.#settle();
    this.#write((ch) => {
      publishEncoded(ch, '', reply.queue, reply.body, encodeReplyProperties(reply));
      ackBatchOf(ch).ack(this.#raw);
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
      if (this.#write((ch) => ackBatchOf(ch).nack(this.#raw, true))) {
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
        this.#write((ch) => ackBatchOf(ch).nack(this.#raw, true));
        throw err;
      }
      this.#write((ch) => ackBatchOf(ch).ack(this.#raw));
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
