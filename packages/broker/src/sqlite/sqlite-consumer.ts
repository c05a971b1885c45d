import type { Consumer, Delivery } from '@celeriac/core';

/** What a consumer needs of the engine that feeds it. */
export interface ConsumerHost {
  removeConsumer(consumer: SqliteConsumer): void;
}

/** One `consume()`: its queues, its prefetch bound and what it holds unsettled. */
export class SqliteConsumer implements Consumer {
  active = true;
  /** True when the last look found nothing to claim: waits for a change, a due time or an expiry. */
  starved = false;
  unsettled = 0;
  /** Round-robin start over `queues`, so several queues are served fairly. */
  next = 0;

  constructor(
    readonly host: ConsumerHost,
    readonly queues: readonly string[],
    readonly prefetch: number,
    readonly onMessage: (delivery: Delivery) => void,
    readonly onError: ((error: Error) => void) | undefined,
  ) {}

  /** Prefetch slots not taken by unsettled deliveries. */
  get free(): number {
    return this.prefetch - this.unsettled;
  }

  cancel(): Promise<void> {
    this.host.removeConsumer(this);
    return Promise.resolve();
  }
}
