import {
  type Broker,
  type BrokerMessage,
  type ConsumeOptions,
  type Consumer,
  type DeadLetterStore,
  type PublishItem,
  type PublishOptions,
} from '@celeriac/core';
import type { SqliteBrokerOptions } from './options.js';
import { SqliteDeadLetterStore } from './sqlite-dead-letter-store.js';
import {
  asError,
  checkMessage,
  checkQueue,
  encodeMeta,
  invalid,
  priorityOf,
  type NewRow,
} from './message-row.js';
import { SqliteConsumer } from './sqlite-consumer.js';
import { SqliteEngine, type PendingWrite, type SqliteBrokerState } from './sqlite-engine.js';

export type { SqliteBrokerState } from './sqlite-engine.js';

/**
 * `Broker` on one SQLite file (better-sqlite3, WAL mode): the embedded, durable default for
 * several processes on one host (a client, workers, beat) with no server installed.
 *
 * Delivery is at least once. A fetch claims up to the consumer's free prefetch slots in one
 * `BEGIN IMMEDIATE` transaction, marking each message reserved by this consumer with a lease
 * of `visibilityTimeout` seconds; the broker renews its leases every third of that while it
 * lives, and any consumer's next fetch gives messages whose lease ran out (their process died)
 * back to their queue, marked redelivered. A commit is durable across a process crash
 * (`synchronous=NORMAL`; a power loss may lose the last commits, never corrupt the file).
 *
 * Idle consumers do not poll: they sleep until another process commits to the file (the
 * OS's file watcher, confirmed by `PRAGMA data_version`), until the next delayed message is
 * due, or until a lease runs out; a publish in this process wakes them at once.
 *
 * Priorities: 0..9, a lower number first (unset is 0), FIFO within a priority by the time a
 * message became ready. Writes made in one turn of the event loop share one transaction.
 *
 * Only processes on one host can share the file: SQLite's locking does not work over NFS or
 * other network file systems.
 *
 * @example
 * ```ts
 * const broker = new SqliteBroker({ url: 'sqlite://./celeriac.db' });
 * await broker.consume({ queues: ['celery'], prefetch: 10, onMessage: (d) => void d.ack() });
 * ```
 */
export class SqliteBroker implements Broker {
  readonly kind = 'sqlite' as const;
  readonly deadLetters: DeadLetterStore;
  readonly #e: SqliteEngine;
  #closing: Promise<void> | undefined;

  constructor(options: SqliteBrokerOptions) {
    this.#e = new SqliteEngine(options);
    this.deadLetters = new SqliteDeadLetterStore(this.#e);
  }

  /** The database file. */
  get file(): string {
    return this.#e.location.file;
  }

  get state(): SqliteBrokerState {
    return this.#e.state;
  }

  /** Queues are rows; an empty queue and a missing one are the same. The name is checked. */
  declareQueue(queue: string): Promise<void> {
    try {
      this.#e.assertOpen('declareQueue');
      checkQueue(queue);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  publish(queue: string, message: BrokerMessage, options?: PublishOptions): Promise<void> {
    return this.publishMany([
      options === undefined ? { queue, message } : { queue, message, options },
    ]);
  }

  /** Publishes the batch (and every other write of this turn) in one transaction. */
  publishMany(items: readonly PublishItem[]): Promise<void> {
    const e = this.#e;
    let write: PendingWrite['run'];
    try {
      e.assertOpen('publish');
      // Every item is checked and encoded before anything is written: a bad item publishes nothing.
      const rows = items.map((item): NewRow => {
        checkQueue(item.queue);
        checkMessage(item.message);
        const at = item.options?.deliverAt;
        if (at !== undefined && !Number.isFinite(at))
          throw invalid('deliverAt', `must be epoch milliseconds, got ${String(at)}`);
        return {
          queue: item.queue,
          priority: priorityOf(item.message.properties ?? {}),
          at,
          meta: encodeMeta(item.message),
          body: item.message.body,
        };
      });
      if (rows.length === 0) return Promise.resolve();
      write = () => {
        const now = e.now;
        let ready = false;
        for (const r of rows) if (e.insert(r, now)) ready = true;
        return ready;
      };
    } catch (err) {
      return Promise.reject(asError(err));
    }
    return e.write(write);
  }

  consume(options: ConsumeOptions): Promise<Consumer> {
    try {
      this.#e.assertOpen('consume');
      const { queues, prefetch } = options;
      if (!Array.isArray(queues) || queues.length === 0)
        throw invalid('queues', 'must name at least one queue');
      for (const q of queues) checkQueue(q);
      if (!Number.isInteger(prefetch) || prefetch <= 0)
        throw invalid('prefetch', `must be a positive integer, got ${String(prefetch)}`);
      if (typeof options.onMessage !== 'function') throw invalid('onMessage', 'must be a function');
      const consumer = new SqliteConsumer(
        this.#e,
        [...new Set(queues)],
        prefetch,
        options.onMessage,
        options.onError,
      );
      this.#e.addConsumer(consumer);
      return Promise.resolve(consumer);
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  /** Deletes a queue's ready messages (due delayed ones included); held and delayed stay. */
  purge(queue: string): Promise<number> {
    return this.#query('purge', queue, () => {
      const e = this.#e;
      return e.db
        .transaction(() => {
          e.s.promoteDue.run(e.now);
          return e.s.purge.run(queue).changes;
        })
        .immediate();
    });
  }

  count(queue: string): Promise<number> {
    return this.#query('count', queue, () => {
      const e = this.#e;
      return (e.s.count.get(queue) as number) + (e.s.countDue.get(e.now, queue) as number);
    });
  }

  countDelayed(queue: string): Promise<number> {
    return this.#query(
      'countDelayed',
      queue,
      () => this.#e.s.countDelayed.get(this.#e.now, queue) as number,
    );
  }

  /**
   * Messages of a queue delivered to a consumer and not settled yet, in any process, including
   * those of a consumer that died, until their lease runs out and they are ready again.
   */
  countReserved(queue: string): Promise<number> {
    return this.#query('countReserved', queue, () => this.#e.s.countReserved.get(queue) as number);
  }

  /**
   * Cancels the consumers, commits the writes already queued, gives back to their queues
   * (marked redelivered, served in their old place) the messages still unsettled, and closes
   * the connection. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      if (this.#e.state === 'open') this.#e.close();
      resolve();
    });
    return this.#closing;
  }

  #query<T>(what: string, queue: string, fn: () => T): Promise<T> {
    try {
      checkQueue(queue);
      return Promise.resolve(this.#e.sync(what, fn));
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }
}
