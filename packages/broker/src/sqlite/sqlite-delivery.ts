import type { BrokerMessage, DeadLetterReason, Delivery } from '@celeriac/core';
import type { SqliteDatabase, SqliteLocation } from './connection.js';
import type { SqliteConsumer } from './sqlite-consumer.js';
import type { SqliteFusedAck } from './sqlite-fused-ack.js';

/** What a delivery needs of the engine that claimed it. */
export interface DeliveryHost {
  readonly db: SqliteDatabase;
  readonly location: SqliteLocation;
  /** Queues a write for the next transaction; resolves once it is committed. */
  write(run: () => boolean): Promise<void>;
  ackRow(d: SqliteDelivery): boolean;
  requeueRow(d: SqliteDelivery): boolean;
  deadLetterRow(d: SqliteDelivery, code: string, text: string): boolean;
  /** The delivery was settled: its consumer has a free slot again. */
  released(d: SqliteDelivery): void;
}

type SettleState = 'unsettled' | 'acked' | 'requeued' | 'dead-lettered' | 'returned';

/** A claimed message, leased to this broker (`owner`) until settled or given back. */
export class SqliteDelivery implements Delivery {
  readonly deliveryTag: string;
  #state: SettleState = 'unsettled';

  constructor(
    readonly host: DeliveryHost,
    readonly consumer: SqliteConsumer,
    readonly id: number,
    readonly owner: string,
    readonly queue: string,
    readonly message: BrokerMessage,
    readonly redelivered: boolean,
  ) {
    this.deliveryTag = `${owner}.${id}`;
  }

  ack(): Promise<void> {
    if (!this.#settle('acked')) return Promise.resolve();
    return this.host.write(() => this.host.ackRow(this));
  }

  /** See `Delivery.fusedAck`: a result written in the transaction of this batch's acks. */
  fusedAck(): SqliteFusedAck | undefined {
    if (this.#state !== 'unsettled') return undefined;
    return {
      transport: 'sqlite',
      target: this.host.location.file,
      ackWithin: (write) => {
        if (!this.#settle('acked')) return undefined;
        return this.host.write(() => {
          write(this.host.db);
          return this.host.ackRow(this);
        });
      },
    };
  }

  requeue(): Promise<void> {
    if (!this.#settle('requeued')) return Promise.resolve();
    return this.host.write(() => this.host.requeueRow(this));
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    if (!this.#settle('dead-lettered')) return Promise.resolve();
    const code = String(reason.code);
    const text = String(reason.message);
    return this.host.write(() => this.host.deadLetterRow(this, code, text));
  }

  /** Marks the delivery settled by close(), which gives it back itself. */
  markReturned(): boolean {
    return this.#settle('returned');
  }

  #settle(to: Exclude<SettleState, 'unsettled'>): boolean {
    if (this.#state !== 'unsettled') return false;
    this.#state = to;
    this.host.released(this);
    return true;
  }
}
