import type { Broker, Consumer, Delivery, Logger } from '@celeriac/core';

/** What the worker's intake needs from its worker. */
export interface IntakeDeps {
  readonly queues: readonly string[];
  readonly prefetch: number;
  readonly logger: Logger;
  /** Declares a queue before it is consumed (the app's `declareQueue`). */
  declare(queue: string): Promise<void>;
  onMessage(delivery: Delivery): void;
}

/**
 * The worker's broker consumer, and the queues and prefetch it consumes with, which remote
 * control changes at run time (`add_consumer`, `cancel_consumer`, `pool_grow`). A change
 * starts a consumer with the new settings first and cancels the old one after, so consumption
 * never pauses and nothing is lost: deliveries the old consumer handed out stay the worker's
 * to settle (a broker consumer's `cancel()` leaves them unsettled), and what it had buffered
 * goes back to its queue. Changes are applied one at a time, in the order they came.
 */
export class Intake {
  readonly #deps: IntakeDeps;
  #queues: readonly string[];
  #prefetch: number;
  #broker: Broker | undefined;
  #consumer: Consumer | undefined;
  #cancelled = false;
  /** The change under way: the next one waits for it. */
  #chain: Promise<void> = Promise.resolve();
  /** The settings after the changes under way (a failed one reverts to what runs). */
  #wanted: { queues: readonly string[]; prefetch: number };

  constructor(deps: IntakeDeps) {
    this.#deps = deps;
    this.#queues = Object.freeze([...deps.queues]);
    this.#prefetch = deps.prefetch;
    this.#wanted = { queues: this.#queues, prefetch: this.#prefetch };
  }

  /** The queues consumed once the changes asked for are done (what remote control reports). */
  get queues(): readonly string[] {
    return this.#wanted.queues;
  }

  get prefetch(): number {
    return this.#wanted.prefetch;
  }

  /** Declares the queues and starts consuming them. */
  async start(broker: Broker): Promise<void> {
    this.#broker = broker;
    for (const q of this.#queues) await this.#deps.declare(q);
    if (this.#cancelled) return;
    this.#consumer = await this.#consume(this.#queues, this.#prefetch);
  }

  /**
   * Consumes `queues` with `prefetch` from now on (each defaults to the current one). Before
   * `start()` it only records them; after `cancel()` it does nothing. Resolves once the new
   * consumer runs; rejects when the broker refused it (the old one then goes on).
   */
  change(o: { queues?: readonly string[]; prefetch?: number }): Promise<void> {
    const wanted = {
      queues: Object.freeze([...(o.queues ?? this.#wanted.queues)]),
      prefetch: o.prefetch ?? this.#wanted.prefetch,
    };
    this.#wanted = wanted;
    const next = this.#chain
      .then(() => this.#change(wanted))
      .catch((err: unknown) => {
        if (this.#wanted === wanted)
          this.#wanted = { queues: this.#queues, prefetch: this.#prefetch };
        throw err;
      });
    this.#chain = next.catch(() => undefined);
    return next;
  }

  /** Stops consuming. Idempotent. */
  async cancel(): Promise<void> {
    this.#cancelled = true;
    await this.#chain;
    const c = this.#consumer;
    this.#consumer = undefined;
    await c?.cancel();
  }

  async #change(o: { queues: readonly string[]; prefetch: number }): Promise<void> {
    if (this.#cancelled) return;
    const { queues, prefetch } = o;
    const broker = this.#broker;
    if (!broker) {
      this.#queues = queues;
      this.#prefetch = prefetch;
      return;
    }
    for (const q of queues) await this.#deps.declare(q);
    const next = queues.length > 0 ? await this.#consume(queues, prefetch) : undefined;
    this.#queues = queues;
    this.#prefetch = prefetch;
    const old = this.#consumer;
    this.#consumer = next;
    // A cancel() that came meanwhile waits for this change, then cancels `next`.
    await old
      ?.cancel()
      .catch((err: unknown) => this.#deps.logger.warn({ err }, 'cancelling a consumer failed'));
  }

  #consume(queues: readonly string[], prefetch: number): Promise<Consumer> {
    if (!this.#broker) throw new Error('Intake: not started');
    return this.#broker.consume({
      queues,
      prefetch,
      onMessage: (d) => this.#deps.onMessage(d),
      onError: (err) => this.#deps.logger.warn({ err }, 'broker connection problem; retrying'),
    });
  }
}
