import type {
  Broker,
  BrokerMessage,
  ConsumeOptions,
  Consumer,
  DeadLetterStore,
  PublishItem,
  PublishOptions,
} from '@celeriac/core';
import {
  checkMessage,
  checkQueue,
  compileMemoryBrokerOptions,
  invalid,
  type MemoryBrokerOptions,
} from './memory-broker-options.js';
import { MemoryDeadLetterStore } from './memory-dead-letters.js';
import { cloneMessage } from './memory-message.js';
import { openServer, releaseServer } from './memory-server.js';
import { ConsumerState, Session } from './memory-session.js';

/**
 * An in-process broker: real queue semantics (prefetch-bounded fair delivery, ack, requeue,
 * dead letters, priorities, delayed delivery) without a server, for tests and single-process
 * apps. Brokers opened on the same `memory://<name>` share queues, so a client and a worker
 * created separately in one process talk to each other. Nothing survives the process.
 *
 * Priorities follow Celery on Redis: 0..9, a lower number first, unset served as 0; messages of
 * equal priority are FIFO. Several queues consumed together are served round-robin.
 *
 * @example
 * ```ts
 * const broker = new MemoryBroker({ url: 'memory://app' });
 * await broker.consume({ queues: ['celery'], prefetch: 4, onMessage: (d) => void d.ack() });
 * await broker.publish('celery', encodeTaskMessage(createTaskMessage({ name: 'tasks.add', args: [1, 2] })));
 * ```
 */
export class MemoryBroker implements Broker {
  readonly kind = 'memory' as const;
  readonly deadLetters: DeadLetterStore;
  readonly #session: Session;

  constructor(options: MemoryBrokerOptions = {}) {
    this.#session = new Session(openServer(compileMemoryBrokerOptions(options)));
    this.deadLetters = new MemoryDeadLetterStore(this.#session);
  }

  /** The namespace this broker shares with others opened on the same `memory://<name>`. */
  get namespace(): string {
    return this.#session.server.name;
  }

  declareQueue(queue: string): Promise<void> {
    // Queues come into being on first use and an empty one is the same as a missing one, so
    // there is nothing to create; the name is still checked.
    return this.#session.run(() => checkQueue(queue));
  }

  publish(queue: string, message: BrokerMessage, options: PublishOptions = {}): Promise<void> {
    return this.publishMany([{ queue, message, options }]);
  }

  publishMany(items: readonly PublishItem[]): Promise<void> {
    return this.#session.run(() => {
      // Validate the whole batch first so a bad item publishes nothing.
      for (const item of items) {
        checkQueue(item.queue);
        checkMessage(item.message);
        const at = item.options?.deliverAt;
        if (at !== undefined && !Number.isFinite(at)) {
          throw invalid('deliverAt', `must be epoch milliseconds, got ${at}`);
        }
      }
      const server = this.#session.server;
      server.promoteDue();
      for (const item of items)
        server.accept(item.queue, cloneMessage(item.message), item.options?.deliverAt);
    });
  }

  consume(options: ConsumeOptions): Promise<Consumer> {
    return this.#session.run(() => {
      const { queues, prefetch } = options;
      if (!Array.isArray(options.queues) || queues.length === 0)
        throw invalid('queues', 'must name at least one queue');
      for (const q of queues) checkQueue(q);
      if (!Number.isInteger(prefetch) || prefetch <= 0) {
        throw invalid('prefetch', `must be a positive integer, got ${prefetch}`);
      }
      if (typeof options.onMessage !== 'function') throw invalid('onMessage', 'must be a function');
      const session = this.#session;
      const unique = [...new Set(queues)];
      const state = new ConsumerState(
        session,
        unique,
        prefetch,
        options.onMessage,
        options.onError,
      );
      session.consumers.add(state);
      session.server.addConsumer(state);
      return {
        cancel: () => {
          session.cancel(state);
          return Promise.resolve();
        },
      };
    });
  }

  purge(queue: string): Promise<number> {
    return this.#session.run(() => {
      checkQueue(queue);
      const server = this.#session.server;
      server.promoteDue();
      const n = server.queues.get(queue)?.purge() ?? 0;
      server.prune(queue);
      return n;
    });
  }

  count(queue: string): Promise<number> {
    return this.#session.run(() => {
      checkQueue(queue);
      const server = this.#session.server;
      server.promoteDue();
      return server.queues.get(queue)?.ready ?? 0;
    });
  }

  countDelayed(queue: string): Promise<number> {
    return this.#session.run(() => {
      checkQueue(queue);
      const server = this.#session.server;
      server.promoteDue();
      return server.queues.get(queue)?.delayed ?? 0;
    });
  }

  /**
   * Cancels this broker's consumers and returns its unsettled deliveries to their queues (as
   * redeliveries), as a closing AMQP channel does. The namespace's queues stay for the other
   * brokers. Idempotent.
   */
  close(): Promise<void> {
    const session = this.#session;
    if (session.closed) return Promise.resolve();
    session.closed = true;
    for (const c of [...session.consumers]) session.cancel(c);
    for (const d of [...session.unsettled]) d.returnToQueue();
    releaseServer(session.server);
    return Promise.resolve();
  }
}
