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
  delayedKey,
  isValidQueueName,
  PRIORITY_STEPS,
  priorityStep,
  readyListKey,
  readyListKeys,
  wakeKey,
} from './keys.js';
import {
  compileRedisBrokerOptions,
  type CompiledRedisBrokerOptions,
  type RedisBrokerOptions,
} from './options.js';
import {
  openRedisClient,
  redisUnavailable,
  runScript,
  runScriptReplicated,
  slices,
  toRedisError,
  TurnBatch,
} from './internal/index.js';
import { DELAY_SCRIPT, PUBLISH_SCRIPT, PURGE_LISTS_SCRIPT } from './scripts/index.js';

export type RedisBrokerState = 'open' | 'closing' | 'closed';

/** Wake lists hold at most one token; this TTL lets the keys of abandoned queues go. */
const WAKE_TTL_MS = 3_600_000;

/** Most envelopes in one LPUSH of the publish script (Lua's `unpack` has a bound). */
const MAX_RUN = 1000;
/** Most envelopes in one publish script call; a longer queue of publishes is split. */
const MAX_PUBLISH_BATCH = 5000;

/** A message on its way: to a ready list now, or to the delayed set until `deliverAt`. */
type PublishCall =
  | { readonly kind: 'ready'; readonly list: string; readonly wake: string; readonly json: string }
  | { readonly kind: 'delayed'; readonly keys: string[]; readonly args: (string | number)[] };

/** A publish waiting for the next publish script call. */
interface PendingPublish {
  readonly call: Extract<PublishCall, { kind: 'ready' }>;
  resolve(): void;
  reject(err: unknown): void;
}

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
  #state: RedisBrokerState = 'open';
  #closing: Promise<void> | undefined;
  readonly #publishes = new TurnBatch<PendingPublish>((pending) => this.#flushPublishes(pending));
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

    this.#ctx = {
      client: this.#client,
      options: this.#o,
      target: redisTarget(client),
      wakeTtl: WAKE_TTL_MS,
      run: (what, fn) => this.#run(what, fn),
      translate: (err) => this.#translate(err),
      openBlocking: () => openBlockingClient(client),
    };
    this.#inFlight = new InFlight(this.#ctx, (err) => this.#reportToConsumers(err));
    this.deadLetters = new RedisDeadLetterStore(this.#ctx);
    this.#movers = new MoverCheck(this.#ctx);
    this.#control = new RedisControlChannel(this.#ctx);
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
    assertQueue(queue);
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
    assertQueue(queue);
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
    if (deliverAt !== undefined && deliverAt > this.#o.clock.now()) {
      const stepIndex = PRIORITY_STEPS.indexOf(step);
      return {
        kind: 'delayed',
        keys: [delayedKey(queue), wakeKey(queue)],
        args: [Math.ceil(deliverAt), `${stepIndex}${json}`, WAKE_TTL_MS],
      };
    }
    return { kind: 'ready', list: readyListKey(queue, step), wake: wakeKey(queue), json };
  }

  #send(call: PublishCall): Promise<unknown> {
    if (call.kind === 'delayed') {
      return this.#run('publish', () =>
        runScriptReplicated(this.#client, DELAY_SCRIPT, call.keys, call.args, this.#o.wait),
      );
    }
    return new Promise<void>((resolve, reject) => this.#publishes.add({ call, resolve, reject }));
  }

  /**
   * Sends the publishes queued in this turn of the event loop (`process.nextTick`): a burst of
   * `publish()` calls costs one script call, one command for Redis to dispatch per queue
   * rather than one script run per message, and far fewer client-side command objects.
   */
  #flushPublishes(pending: readonly PendingPublish[]): void {
    if (this.#state === 'closed') {
      const err = new CeleriacError(ErrorCodes.CLOSED, 'RedisBroker: publish after close()');
      for (const p of pending) p.reject(err);
      return;
    }
    for (const batch of slices(pending, MAX_PUBLISH_BATCH)) this.#sendPublishes(batch);
  }

  #sendPublishes(batch: readonly PendingPublish[]): void {
    const keys: string[] = [];
    const keyIndex = new Map<string, number>();
    const indexOf = (key: string): number => {
      let i = keyIndex.get(key);
      if (i === undefined) {
        keys.push(key);
        i = keys.length; // Lua KEYS are 1-based
        keyIndex.set(key, i);
      }
      return i;
    };
    const args: (string | number)[] = [WAKE_TTL_MS];
    /** Per run: the index of its first item in `batch`, and of its count in `args`. */
    const runs: { first: number; countAt: number }[] = [];
    let list: string | undefined;
    let count = 0;
    for (let i = 0; i < batch.length; i++) {
      const { call } = batch[i]!;
      if (call.list !== list || count === MAX_RUN) {
        list = call.list;
        count = 0;
        args.push(indexOf(call.list), indexOf(call.wake), 0);
        runs.push({ first: i, countAt: args.length - 1 });
      }
      args.push(call.json);
      args[runs[runs.length - 1]!.countAt] = ++count;
    }
    this.#run('publish', () =>
      runScriptReplicated(this.#client, PUBLISH_SCRIPT, keys, args, this.#o.wait),
    ).then(
      (replies) => {
        for (let r = 0; r < runs.length; r++) {
          const end = r + 1 < runs.length ? runs[r + 1]!.first : batch.length;
          const reply = replies[r];
          const err = typeof reply === 'number' ? undefined : new Error(String(reply));
          for (let i = runs[r]!.first; i < end; i++) {
            if (err) batch[i]!.reject(err);
            else batch[i]!.resolve();
          }
        }
      },
      (err: unknown) => {
        for (const p of batch) p.reject(err);
      },
    );
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    this.#assertOpen('consume');
    if (options.queues.length === 0) {
      throw new CeleriacError(ErrorCodes.INVALID_OPTION, 'consume() needs at least one queue', {
        details: { option: 'queues' },
      });
    }
    for (const q of options.queues) assertQueue(q);
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
    assertQueue(queue);
    return this.#movers.has(queue);
  }

  /** Deletes the queue's ready lists (all priority steps); delayed messages stay. */
  async purge(queue: string): Promise<number> {
    this.#assertOpen('purge');
    assertQueue(queue);
    return this.#run('purge', () =>
      runScript(this.#client, PURGE_LISTS_SCRIPT, readyListKeys(queue), []),
    );
  }

  async count(queue: string): Promise<number> {
    this.#assertOpen('count');
    assertQueue(queue);
    const results = await this.#run('count', async () => {
      const p = this.#client.pipeline();
      for (const key of readyListKeys(queue)) p.llen(key);
      return p.exec();
    });
    let n = 0;
    for (const [err, len] of results ?? []) {
      if (err) throw this.#translate(err);
      n += Number(len);
    }
    return n;
  }

  async countDelayed(queue: string): Promise<number> {
    this.#assertOpen('countDelayed');
    assertQueue(queue);
    return this.#run('countDelayed', () => this.#client.zcard(delayedKey(queue)));
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
