import type { Channel, Message } from 'amqplib';

/**
 * The acks of one consuming channel, sent at the end of the event-loop turn in which they were
 * made: the longest run of the channel's oldest unsettled deliveries that are all acked goes as
 * one `basic.ack` with `multiple`, the rest one by one. A worker finishing 50 tasks in a turn
 * so sends one ack frame instead of 50, which RabbitMQ (and amqplib) handle once.
 *
 * `multiple` acks every unsettled delivery up to the tag, so every delivery of the channel must
 * be `received()` here, and every nack (requeue) go through `nack()`: the run never reaches past
 * a delivery still held. Acks are written after whatever was written before them in the same
 * turn (an rpc:// reply precedes its task's ack, as `replyThenAck` promises). A channel that
 * closes with acks still waiting loses them, as it would lose them unwritten: RabbitMQ requeues
 * the messages (at least once). The consumer flushes before it closes a channel itself.
 */
export class AckBatch {
  readonly #ch: Channel;
  /**
   * Delivery tags received and not settled on the wire, in the order received (ascending): at
   * most what the consumer holds, its prefetch and buffer, however long one delivery is held.
   */
  readonly #unsettled = new Set<number>();
  /** Tags whose ack waits for the flush. */
  readonly #acks = new Set<number>();
  #scheduled = false;
  readonly #flush = (): void => this.flush();

  constructor(ch: Channel) {
    this.#ch = ch;
  }

  /** Deliveries received and not yet settled on the wire (bounded by what the consumer holds). */
  get unsettled(): number {
    return this.#unsettled.size;
  }

  /** Records a delivery of the channel (every one, in the order they arrive). */
  received(msg: Message): void {
    this.#unsettled.add(msg.fields.deliveryTag);
  }

  /** Acks the delivery at the end of this turn. */
  ack(msg: Message): void {
    this.#acks.add(msg.fields.deliveryTag);
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(this.#flush);
    }
  }

  /** `basic.nack` of one delivery, now. */
  nack(msg: Message, requeue: boolean): void {
    this.#ch.nack(msg, false, requeue);
    this.#unsettled.delete(msg.fields.deliveryTag);
  }

  /** Writes the acks that wait. Does nothing once the channel is closed (RabbitMQ requeued them). */
  flush(): void {
    this.#scheduled = false;
    if (this.#acks.size === 0) return;
    // The oldest delivery still held: a multiple ack must stop below it.
    let held = Infinity;
    for (const tag of this.#unsettled) {
      if (!this.#acks.has(tag)) {
        held = tag;
        break;
      }
    }
    let upTo = -1;
    for (const tag of this.#acks) {
      this.#unsettled.delete(tag);
      if (tag < held && tag > upTo) upTo = tag;
    }
    try {
      if (upTo >= 0) this.#ch.ack(tagged(upTo), true);
      for (const tag of this.#acks) if (tag > held) this.#ch.ack(tagged(tag), false);
    } catch {
      // The channel closed: RabbitMQ has requeued what was not acked.
    }
    this.#acks.clear();
  }
}

function tagged(deliveryTag: number): Message {
  return { fields: { deliveryTag } } as unknown as Message;
}

const batches = new WeakMap<Channel, AckBatch>();

/** The channel's `AckBatch`, created on first use. */
export function ackBatchOf(ch: Channel): AckBatch {
  let b = batches.get(ch);
  if (b === undefined) {
    b = new AckBatch(ch);
    batches.set(ch, b);
  }
  return b;
}
