import {
  CeleriacError,
  ErrorCodes,
  isCeleriacError,
  type Broker,
  type BrokerMessage,
  type ConsumeOptions,
  type ControlChannel,
  type Consumer,
  type PublishItem,
  type PublishOptions,
} from '@celeriac/core';
import { redactUrl } from '@celeriac/core/internal';
import type { Redis } from 'ioredis';
import { openBlockingClient, redisTarget } from './connection.js';
import type { BrokerContext } from './context.js';
import { MoverCheck } from './movers.js';
import { RedisConsumer } from './consumer.js';
import { RedisControlChannel } from './control.js';
import { RedisDeadLetterStore } from './dead-letters.js';
import { buildEnvelope } from './envelope.js';
import { InFlight } from './in-flight.js';
import {
  bindingMember,
  bindingSetKey,
  isValidQueueName,
  PRIORITY_STEPS,
  priorityStep,
} from './keys.js';
import { clusterLayout, isValidClusterQueueName, kombuLayout, type KeyLayout } from './layout.js';
import {
  compileRedisBrokerOptions,
  type CompiledRedisBrokerOptions,
  type RedisBrokerOptions,
} from './options.js';
import { openRedisClient, redisUnavailable, runScript, toRedisError } from './internal/index.js';
import { Publisher, type PublishCall } from './publisher.js';
import { CLUSTER_SCRIPTS, KOMBU_SCRIPTS, PURGE_LISTS_SCRIPT } from './scripts/index.js';

export type RedisBrokerState = 'open' | 'closing' | 'closed';

/** Wake lists hold at most one token; this TTL lets the keys of abandoned queues go. */
const WAKE_TTL_MS = 3_600_000;

/**
 * `Broker` on Redis, in kombu's layout (DESIGN.md §3), so Python Celery clients and workers
 * share its queues: a list per queue and priority step, producers LPUSH, consumers take from
 * the right, in-flight messages in `unacked` / `unacked_index`, queues registered in
 * `_kombu.binding.<exchange>`. What Celery lacks is added beside it in `_celeriac.*` keys that
 * kombu never reads: delayed messages, dead letters, wake-up lists.
 *
 * Round trips: the publishes made in one turn of the event loop (a `publishMany`, or many
 * concurrent `publish()` calls) go in one script call, one LPUSH per queue; a fetch takes up
 * to the free prefetch slots in one script call; an ack is one round trip (HDEL + ZREM), or
 * none of its own via `fusedAck()`.
 *
 * On a Redis Cluster (`redis+cluster://`) it writes the cluster layout instead (`layout.ts`,
 * docs/redis.md "Redis Cluster"): every key of a queue, or of one of its `shards`, under one
 * hash tag, which Python Celery does not read.
 *
 * @example
 * ```ts
 * const broker = new RedisBroker({ url: 'redis://localhost:6379/0' });
 * await broker.declareQueue('celery');
 * const consumer = await broker.consume({
 *   queues: ['celery'],
 *   prefetch: 10,
 *   onMessage: (d) => void d.ack(),
 * });
 * ```
 */
export class RedisBroker implements Broker {
  readonly kind = 'redis' as const;
  readonly deadLetters: RedisDeadLetterStore;
  readonly #o: CompiledRedisBrokerOptions;
  readonly #client: Redis;
  readonly #ownsClient: boolean;
  readonly #url: string;
  readonly #ctx: BrokerContext;
  readonly #movers: MoverCheck;
  readonly #inFlight: InFlight;
  readonly #control: RedisControlChannel;
  readonly #consumers = new Set<RedisConsumer>();
  readonly #layout: KeyLayout;
  readonly #publisher: Publisher;
  /** Cluster layout: per queue, the shard its next publish goes to. */
  readonly #nextShard = new Map<string, number>();
  #state: RedisBrokerState = 'open';
  #closing: Promise<void> | undefined;
  #down = false;
  #lastError: Error | undefined;
  readonly #onClientError = (err: Error): void => this.#clientError(err);
  readonly #onClientReady = (): void => this.#clientReady();

  constructor(options: RedisBrokerOptions) {
    this.#o = compileRedisBrokerOptions(options);
    const client =
      this.#o.client ?? openRedisClient(this.#o.url!, { redisOptions: this.#o.redisOptions });
    this.#ownsClient = this.#o.client === undefined;
    this.#client = client;
    this.#url = this.#o.url ?? redisTarget(client);
    client.on('error', this.#onClientError);
    client.on('ready', this.#onClientReady);

    this.#layout = this.#o.cluster ? clusterLayout(this.#o.shards) : kombuLayout();
    this.#ctx = {
      client: this.#client,
      options: this.#o,
      target: redisTarget(client),
      layout: this.#layout,
      scripts: this.#o.cluster ? CLUSTER_SCRIPTS : KOMBU_SCRIPTS,
      wakeTtl: WAKE_TTL_MS,
      run: (what, fn) => this.#run(what, fn),
      translate: (err) => this.#translate(err),
      openBlocking: () => openBlockingClient(client),
    };
    this.#inFlight = new InFlight(this.#ctx, (err) => this.#reportToConsumers(err));
    this.deadLetters = new RedisDeadLetterStore(this.#ctx);
    this.#movers = new MoverCheck(this.#ctx);
    this.#control = new RedisControlChannel(this.#ctx);
    this.#publisher = new Publisher(this.#ctx, () => this.#state === 'closed');
  }

  /** Celery's remote control plumbing (kombu's fanout and direct exchanges on Redis). */
  get control(): ControlChannel {
    return this.#control;
  }

  get state(): RedisBrokerState {
    return this.#state;
  }

  /**
   * Registers the queue as Celery declares it: member `<queue>\x06\x16\x06\x16<queue>` in the set
   * `_kombu.binding.<exchange>`, the exchange being the queue's own name unless
   * `options.exchange` says otherwise.
   */
  async declareQueue(queue: string): Promise<void> {
    this.#assertOpen('declareQueue');
    this.#assertQueue(queue);
    await this.#run('declareQueue', () =>
      this.#client.sadd(bindingSetKey(this.#o.exchange ?? queue), bindingMember(queue, queue)),
    );
  }

  async publish(queue: string, message: BrokerMessage, options?: PublishOptions): Promise<void> {
    this.#assertOpen('publish');
    const call = this.#publishCall(queue, message, options);
    try {
      await this.#send(call);
    } catch (err) {
      throw publishFailed(err, queue);
    }
  }

  async publishMany(items: readonly PublishItem[]): Promise<void> {
    this.#assertOpen('publishMany');
    if (items.length === 0) return;
    // Every item is checked and encoded before any is sent.
    const calls = items.map((i) => this.#publishCall(i.queue, i.message, i.options));
    const results = await Promise.allSettled(calls.map((c) => this.#send(c)));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed >= 0) {
      throw publishFailed((results[failed] as PromiseRejectedResult).reason, items[failed]!.queue);
    }
  }

  #publishCall(
    queue: string,
    message: BrokerMessage,
    options: PublishOptions | undefined,
  ): PublishCall {
    this.#assertQueue(queue);
    const { json } = buildEnvelope(queue, message);
    const step = priorityStep(message.properties.priority);
    const deliverAt = options?.deliverAt;
    if (deliverAt !== undefined && !Number.isFinite(deliverAt)) {
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `publish to "${queue}": deliverAt must be epoch milliseconds, got ${String(deliverAt)}`,
        { details: { option: 'deliverAt', queue } },
      );
    }
    const keys = this.#layout.keys(queue, this.#layout.cluster ? this.#pickShard(queue) : 0);
    if (deliverAt !== undefined && deliverAt > this.#o.clock.now()) {
      const stepIndex = PRIORITY_STEPS.indexOf(step);
      return {
        kind: 'delayed',
        keys: [keys.delayed, keys.wake],
        args: [Math.ceil(deliverAt), `${stepIndex}${json}`, WAKE_TTL_MS],
      };
    }
    return { kind: 'ready', list: keys.readyFor(step), wake: keys.wake, tag: keys.tag, json };
  }

  /** Cluster layout: the queue's shards in turn. */
  #pickShard(queue: string): number {
    const n = this.#layout.shards(queue);
    if (n === 1) return 0;
    const next = this.#nextShard.get(queue) ?? 0;
    this.#nextShard.set(queue, (next + 1) % n);
    return next;
  }

  #send(call: PublishCall): Promise<unknown> {
    return this.#publisher.send(call);
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    this.#assertOpen('consume');
    if (options.queues.length === 0) {
      throw new CeleriacError(ErrorCodes.INVALID_OPTION, 'consume() needs at least one queue', {
        details: { option: 'queues' },
      });
    }
    for (const q of options.queues) this.#assertQueue(q);
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1) {
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `consume() prefetch must be a positive integer, got ${String(options.prefetch)}`,
        { details: { option: 'prefetch' } },
      );
    }
    // Fails with BROKER_UNAVAILABLE here, rather than later through onError, when Redis is unreachable.
    await this.#run('consume', () => this.#client.ping());
    this.#assertOpen('consume');
    const consumer = new RedisConsumer(this.#ctx, this.#inFlight, options, (c) =>
      this.#consumers.delete(c),
    );
    this.#consumers.add(consumer);
    await consumer.start();
    return consumer;
  }

  /** Whether a live Celeriac consumer of `queue` moves its delayed messages (`movers.ts`). */
  hasDelayedMover(queue: string): Promise<boolean> {
    this.#assertOpen('hasDelayedMover');
    this.#assertQueue(queue);
    return this.#movers.has(queue);
  }

  /** Deletes the queue's ready lists (all priority steps); delayed messages stay. */
  async purge(queue: string): Promise<number> {
    this.#assertOpen('purge');
    this.#assertQueue(queue);
    const counts = await Promise.all(
      this.#layout
        .allKeys(queue)
        .map((k) =>
          this.#run('purge', () => runScript(this.#client, PURGE_LISTS_SCRIPT, k.ready, [])),
        ),
    );
    return counts.reduce((a, b) => a + Number(b), 0);
  }

  async count(queue: string): Promise<number> {
    this.#assertOpen('count');
    this.#assertQueue(queue);
    let n = 0;
    // One pipeline per shard: a cluster pipeline's keys share a slot.
    for (const keys of this.#layout.allKeys(queue)) {
      const results = await this.#run('count', async () => {
        const p = this.#client.pipeline();
        for (const key of keys.ready) p.llen(key);
        return p.exec();
      });
      for (const [err, len] of results ?? []) {
        if (err) throw this.#translate(err);
        n += Number(len);
      }
    }
    return n;
  }

  async countDelayed(queue: string): Promise<number> {
    this.#assertOpen('countDelayed');
    this.#assertQueue(queue);
    const counts = await Promise.all(
      this.#layout
        .allKeys(queue)
        .map((k) => this.#run('countDelayed', () => this.#client.zcard(k.delayed))),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /**
   * Cancels the consumers, gives back to their queues (served next, marked redelivered) the
   * messages this broker still holds unsettled, as kombu does at shutdown, then closes the
   * connections it opened. A client passed in `options.client` stays open. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#state = 'closing';
    await Promise.allSettled([...this.#consumers].map((c) => c.cancel()));
    const held = this.#inFlight.held();
    if (held.length > 0) {
      const results = await Promise.allSettled(held.map((d) => d.release(true)));
      const failed = results.filter((r) => r.status === 'rejected').length;
      if (failed > 0) {
        this.#o.logger.warn(
          { failed },
          `could not give back ${failed} held message(s) at close; they return after the visibility timeout`,
        );
      }
    }
    await this.#inFlight.stop();
    await this.#control.close();
    this.#state = 'closed';
    this.#client.off('error', this.#onClientError);
    this.#client.off('ready', this.#onClientReady);
    if (this.#ownsClient) await quietly(this.#client);
  }

  #assertQueue(queue: string): void {
    assertQueue(queue);
    if (this.#layout.cluster && !isValidClusterQueueName(queue)) {
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `invalid queue name ${JSON.stringify(queue)} for the cluster layout: it must not contain "{" or "}" (its keys are under the hash tag {<queue>})`,
        { details: { option: 'queue' } },
      );
    }
  }

  #assertOpen(what: string): void {
    if (this.#state !== 'open') {
      throw new CeleriacError(ErrorCodes.CLOSED, `RedisBroker.${what}() called after close()`);
    }
  }

  async #run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#state === 'closed') {
      throw new CeleriacError(ErrorCodes.CLOSED, `RedisBroker: ${what} after close()`);
    }
    try {
      return await fn();
    } catch (err) {
      throw this.#translate(err);
    }
  }

  #translate(err: unknown): Error {
    return toRedisError('broker', err, { url: this.#url, lastError: this.#lastError });
  }

  #clientError(err: Error): void {
    this.#lastError = err;
    if (this.#down) return;
    this.#down = true;
    const e = redisUnavailable('broker', err, { url: this.#url });
    this.#o.logger.warn({ err }, `lost the Redis broker at ${redactUrl(this.#url)}; reconnecting`);
    for (const c of this.#consumers) c.report(e);
  }

  #clientReady(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#o.logger.info(`reconnected to the Redis broker at ${redactUrl(this.#url)}`);
  }

  #reportToConsumers(err: Error): void {
    if (this.#consumers.size === 0) this.#o.logger.warn({ err }, 'Redis broker error');
    for (const c of this.#consumers) c.report(err);
  }
}

function assertQueue(queue: string): void {
  if (!isValidQueueName(queue)) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `invalid queue name ${JSON.stringify(queue)}: it must be a non-empty string without "\\x06\\x16"`,
      { details: { option: 'queue' } },
    );
  }
}

function publishFailed(err: unknown, queue: string): CeleriacError {
  if (isCeleriacError(err)) return err;
  return new CeleriacError(
    ErrorCodes.PUBLISH_FAILED,
    `publishing to queue "${queue}" failed: ${(err as Error).message ?? String(err)}`,
    { cause: err, details: { queue } },
  );
}

async function quietly(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through to a hard disconnect
    }
  }
  client.disconnect();
}
