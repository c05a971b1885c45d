import type { Channel } from 'amqplib';
import type { AdminChannel } from './admin-channel.js';
import { channelErrorCode, queueTypeMismatch } from './errors.js';
import { levelPatterns, levelTtl } from './delay.js';
import type { AmqpQueueType, CompiledAmqpBrokerOptions } from './options.js';

/**
 * Every exchange and queue name Celeriac uses on RabbitMQ, in one place. Besides Celery's own
 * (the queue, and the direct exchange it is bound to), Celeriac adds, per queue `<q>`:
 *
 * - dead letters: the direct exchange `celeriac.dead` (routing key `<q>`) and the queue
 *   `celeriac.dead.<q>`, capped and expiring;
 * - delays: topic exchanges and queues `celeriac.delay.NN.<q>` for levels NN = 00…31 (level n
 *   holds a message 2^n ms, then dead-letters it to level n − 1), and the fanout exchange
 *   `celeriac.delayed.<q>` that every level ends in, bound to `<q>`.
 *
 * The prefixes keep these namespaces apart whatever the queue is called.
 */
export const DEAD_LETTER_EXCHANGE = 'celeriac.dead';
const DEAD_LETTER_PREFIX = 'celeriac.dead.';
export const DELAY_LEVEL_PREFIX = 'celeriac.delay.';
const DELAY_EXIT_PREFIX = 'celeriac.delayed.';

export function deadLetterQueue(queue: string): string {
  return `${DEAD_LETTER_PREFIX}${queue}`;
}

/** The exchange and the queue of delay level `level` of `queue` (they share the name). */
export function delayLevel(queue: string, level: number): string {
  return `${DELAY_LEVEL_PREFIX}${String(level).padStart(2, '0')}.${queue}`;
}

/** The fanout exchange a delayed message leaves the delay levels through, bound to the queue. */
export function delayExit(queue: string): string {
  return `${DELAY_EXIT_PREFIX}${queue}`;
}

export function isDelayLevelQueue(name: string): boolean {
  return name.startsWith(DELAY_LEVEL_PREFIX);
}

function typeArguments(type: AmqpQueueType): Record<string, unknown> {
  return type === 'quorum' ? { 'x-queue-type': 'quorum' } : {};
}

/** The arguments Celeriac declares a task queue with. */
export function queueArguments(o: CompiledAmqpBrokerOptions): Record<string, unknown> {
  return {
    ...typeArguments(o.queueType),
    ...(o.maxPriority !== undefined ? { 'x-max-priority': o.maxPriority } : {}),
    ...o.queueArguments,
  };
}

export function deadLetterQueueArguments(o: CompiledAmqpBrokerOptions): Record<string, unknown> {
  return {
    ...typeArguments(o.queueType),
    'x-max-length': o.deadLetterLimit,
    'x-overflow': 'drop-head',
    'x-message-ttl': o.deadLetterTtlMs,
  };
}

export function delayLevelArguments(
  o: CompiledAmqpBrokerOptions,
  queue: string,
  level: number,
): Record<string, unknown> {
  return {
    ...typeArguments(o.delayQueueType),
    // At-least-once dead-lettering (quorum only) needs reject-publish overflow.
    ...(o.delayQueueType === 'quorum'
      ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }
      : {}),
    'x-message-ttl': levelTtl(level, o.delaySpeedup),
    'x-dead-letter-exchange': level > 0 ? delayLevel(queue, level - 1) : delayExit(queue),
  };
}

/**
 * Declares what a queue needs, once per connection (a new connection may be to a node that lost
 * everything, so the broker calls `reset()` and it declares again). Concurrent callers share one declaration.
 *
 * A queue that already exists with other arguments (Celery declared it without
 * `x-max-priority`, say) makes RabbitMQ refuse the declaration with 406 PRECONDITION_FAILED;
 * Celeriac then uses the queue as it is and logs a warning, rather than failing every publish.
 */
export class Topology {
  readonly #admin: AdminChannel;
  readonly #o: CompiledAmqpBrokerOptions;
  /** Bumped by `reset()`, so a declaration that straddles one is not recorded. */
  #epoch = 0;
  #queues = new Map<string, Promise<void>>();
  /** Per queue: the highest delay level declared, and the declaration under way. */
  #delayTop = new Map<string, number>();
  #delayChain = new Map<string, Promise<void>>();

  constructor(admin: AdminChannel, options: CompiledAmqpBrokerOptions) {
    this.#admin = admin;
    this.#o = options;
  }

  /** Makes sure the queue, its exchange binding and its dead-letter queue exist. */
  ensureQueue(queue: string): Promise<void> {
    let p = this.#queues.get(queue);
    if (!p) {
      p = this.#declareQueue(queue);
      this.#queues.set(queue, p);
      p.catch(() => {
        if (this.#queues.get(queue) === p) this.#queues.delete(queue);
      });
    }
    return p;
  }

  /** Makes sure delay levels 0…`topLevel` of the queue exist (and the queue itself). */
  async ensureDelay(queue: string, topLevel: number): Promise<void> {
    await this.ensureQueue(queue);
    if ((this.#delayTop.get(queue) ?? -1) >= topLevel) return;
    const before = this.#delayChain.get(queue) ?? Promise.resolve();
    const next = before.catch(() => undefined).then(() => this.#declareDelay(queue, topLevel));
    this.#delayChain.set(queue, next);
    await next;
  }

  /** Forgets a queue's declarations (it was deleted): the next use declares it again. */
  forget(queue: string): void {
    this.#queues.delete(queue);
    this.#delayTop.delete(queue);
    this.#delayChain.delete(queue);
  }

  /** Forgets every declaration (the broker calls it on each reconnection). */
  reset(): void {
    this.#epoch++;
    this.#queues.clear();
    this.#delayTop.clear();
    this.#delayChain.clear();
  }

  async #declareQueue(queue: string): Promise<void> {
    const exchange = this.#o.exchange ?? queue;
    const exchangeOk = await this.#tolerant(
      `exchange "${exchange}"`,
      (ch) => ch.assertExchange(exchange, 'direct', { durable: true }),
      (ch) => ch.checkExchange(exchange),
    );
    const args = queueArguments(this.#o);
    await this.#tolerant(
      `queue "${queue}"`,
      (ch) => ch.assertQueue(queue, { durable: true, arguments: args }),
      (ch) => ch.checkQueue(queue),
      { queue, type: args['x-queue-type'] },
    );
    if (exchangeOk) {
      await this.#admin.run('declareQueue', (ch) => ch.bindQueue(queue, exchange, queue));
    }
    const dead = deadLetterQueue(queue);
    await this.#admin.run('declareQueue', async (ch) => {
      await ch.assertExchange(DEAD_LETTER_EXCHANGE, 'direct', { durable: true });
    });
    const deadArgs = deadLetterQueueArguments(this.#o);
    await this.#tolerant(
      `queue "${dead}"`,
      (ch) => ch.assertQueue(dead, { durable: true, arguments: deadArgs }),
      (ch) => ch.checkQueue(dead),
      { queue: dead, type: deadArgs['x-queue-type'] },
    );
    await this.#admin.run('declareQueue', (ch) => ch.bindQueue(dead, DEAD_LETTER_EXCHANGE, queue));
  }

  async #declareDelay(queue: string, topLevel: number): Promise<void> {
    const from = (this.#delayTop.get(queue) ?? -1) + 1;
    if (from > topLevel) return;
    const epoch = this.#epoch;
    await this.#admin.run('declare delay levels', async (ch) => {
      const exit = delayExit(queue);
      if (from === 0) {
        await ch.assertExchange(exit, 'fanout', { durable: true });
        await ch.bindQueue(queue, exit, '');
      }
      // Upwards, so that whenever level n exists, every level below it does too.
      for (let level = from; level <= topLevel; level++) {
        const name = delayLevel(queue, level);
        const { wait, pass } = levelPatterns(level);
        await ch.assertExchange(name, 'topic', { durable: true });
        await ch.assertQueue(name, {
          durable: true,
          arguments: delayLevelArguments(this.#o, queue, level),
        });
        await ch.bindQueue(name, name, wait);
        await ch.bindExchange(level > 0 ? delayLevel(queue, level - 1) : exit, name, pass);
      }
    });
    if (epoch === this.#epoch) this.#delayTop.set(queue, topLevel);
  }

  /**
   * Declares with `declare`; when RabbitMQ answers 406 (it exists with other arguments),
   * checks it exists with `check` and warns. Resolves false when it had to. Another queue type
   * is no such detail: it fails with `CELERIAC_ERR_QUEUE_MISMATCH`.
   */
  async #tolerant(
    what: string,
    declare: (ch: Channel) => Promise<unknown>,
    check: (ch: Channel) => Promise<unknown>,
    queue?: { queue: string; type: unknown },
  ): Promise<boolean> {
    try {
      await this.#admin.run('declareQueue', declare);
      return true;
    } catch (err) {
      if (channelErrorCode(err) !== 406) throw err;
      if (queue && err instanceof Error && err.message.includes("'x-queue-type'")) {
        throw queueTypeMismatch(
          queue.queue,
          typeof queue.type === 'string' ? `as a ${queue.type} queue` : 'as a classic queue',
          err,
        );
      }
      this.#o.logger.warn(
        { err },
        `${what} already exists with other arguments than Celeriac's; using it as it is. ` +
          'Declare it alike on every side (Celery: task_queue_max_priority, queue_arguments; ' +
          'Celeriac: maxPriority, queueType, queueArguments).',
      );
      await this.#admin.run('declareQueue', check);
      return false;
    }
  }
}
