import { randomUUID } from 'node:crypto';
import type { BrokerMessage, DeadLetterReason, Delivery } from '@celeriac/core';
import { addDeadLetter } from './memory-dead-letters.js';
import { cloneMessage } from './memory-message.js';
import type { ConsumerState } from './memory-session.js';

type SettleState = 'unsettled' | 'acked' | 'requeued' | 'dead-lettered' | 'returned';

/**
 * One message handed to a consumer. The broker keeps its own copy until the delivery is
 * settled: a requeue (or the broker's close) puts that copy back at the front of its queue.
 */
export class MemoryDelivery implements Delivery {
  readonly deliveryTag = randomUUID();
  /** The broker's own copy, what goes back on requeue; `message` is the consumer's copy. */
  readonly #stored: BrokerMessage;
  readonly message: BrokerMessage;
  #state: SettleState = 'unsettled';

  constructor(
    private readonly consumer: ConsumerState,
    readonly queue: string,
    stored: BrokerMessage,
    readonly redelivered: boolean,
  ) {
    this.#stored = stored;
    this.message = cloneMessage(stored);
  }

  get settled(): boolean {
    return this.#state !== 'unsettled';
  }

  ack(): Promise<void> {
    this.#settle('acked');
    return Promise.resolve();
  }

  requeue(): Promise<void> {
    if (this.#settle('requeued')) this.consumer.owner.server.restore(this.queue, this.#stored);
    return Promise.resolve();
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    if (this.#settle('dead-lettered')) {
      addDeadLetter(this.consumer.owner.server, this.queue, this.#stored, reason);
    }
    return Promise.resolve();
  }

  /** Called by the broker's close(): the message goes back to its queue. */
  returnToQueue(): void {
    if (this.#settle('returned')) this.consumer.owner.server.restore(this.queue, this.#stored);
  }

  /** Settles once; returns false (and does nothing) when already settled. */
  #settle(to: Exclude<SettleState, 'unsettled'>): boolean {
    if (this.#state !== 'unsettled') return false;
    this.#state = to;
    this.consumer.unsettled--;
    this.consumer.owner.unsettled.delete(this);
    this.consumer.owner.server.schedulePump();
    return true;
  }
}
