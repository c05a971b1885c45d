import type { FusedAck } from '@celeriac/core';

/** A transient message sent to the default exchange, such as an rpc:// result. */
export interface AmqpReply {
  /** The queue, as routing key on the default exchange. */
  readonly queue: string;
  readonly body: Buffer;
  readonly contentType: string;
  readonly contentEncoding: string;
  readonly correlationId: string;
  /** Per-message TTL in milliseconds, as AMQP's `expiration` string. */
  readonly expiration?: string;
}

/**
 * The AMQP transport's fused store-and-ack (`Delivery.fusedAck()`): a reply sent on the
 * channel the delivery came on, then the delivery's ack on that channel. RabbitMQ handles a
 * channel's frames in order, so the ack never takes effect without the reply having been
 * routed first, and if the channel is gone neither is sent and the message comes back: at
 * least once, without a publisher confirm round trip.
 */
export interface AmqpFusedAck extends FusedAck {
  readonly transport: 'amqp';
  /** `amqpTarget()` of the server the delivery came from. */
  readonly target: string;
  /**
   * Sends `reply` (transient), then acks the delivery, both on its channel; resolves once the
   * reply is written and the ack queued behind it for the end of the turn (AMQP answers neither). Returns undefined, and does nothing, when the delivery
   * is already settled or RabbitMQ blocks its connection (publishing there would stop RabbitMQ
   * reading its acks too): the caller then publishes on its own connection and acks.
   */
  replyThenAck(reply: AmqpReply): Promise<void> | undefined;
}

/** True for the AMQP transport's fused ack. */
export function isAmqpFusedAck(fused: FusedAck): fused is AmqpFusedAck {
  return fused.transport === 'amqp';
}
