import { CeleriacError, ErrorCodes, type Delivery } from '@celeriac/core';
import type { MemoryDelivery } from './memory-delivery.js';
import type { MemoryServer } from './memory-server.js';

/** Rejections carry Errors; an AbortSignal's reason (or a thrown value) may be anything. */
function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value), { cause: value });
}

/** One `consume()` call: its queues, its prefetch and how many deliveries it holds unsettled. */
export class ConsumerState {
  unsettled = 0;
  active = true;
  /** Round-robin position over `queues`, so several queues are served fairly. */
  next = 0;
  constructor(
    readonly owner: Session,
    readonly queues: readonly string[],
    readonly prefetch: number,
    readonly onMessage: (delivery: Delivery) => void,
    readonly onError: ((error: Error) => void) | undefined,
  ) {}

  /** Hands a delivery to the application. */
  hand(delivery: MemoryDelivery): void {
    this.unsettled++;
    this.owner.unsettled.add(delivery);
    try {
      this.onMessage(delivery);
    } catch (err) {
      // The contract says onMessage must not throw. The delivery stays with the caller
      // (requeueing it here could loop forever on a handler that always throws).
      this.onError?.(asError(err));
    }
  }
}

/** One broker's view of a namespace: its consumers, its unsettled deliveries, its open state. */
export class Session {
  readonly consumers = new Set<ConsumerState>();
  readonly unsettled = new Set<MemoryDelivery>();
  closed = false;

  constructor(readonly server: MemoryServer) {}

  assertOpen(): void {
    if (this.closed) {
      throw new CeleriacError(
        ErrorCodes.CLOSED,
        `MemoryBroker (memory://${this.server.name}) is closed`,
      );
    }
  }

  /** Runs `fn` on an open broker, turning what it throws into a rejection. */
  run<T>(fn: () => T): Promise<T> {
    try {
      this.assertOpen();
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  cancel(c: ConsumerState): void {
    if (!this.consumers.delete(c)) return;
    this.server.removeConsumer(c);
  }
}
