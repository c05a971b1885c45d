import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AmqpConnection, backendUnavailable, isAmqpFusedAck } from '@celeriac/broker/amqp/internal';
import {
  CeleriacError,
  ErrorCodes,
  isCeleriacError,
  isReadyState,
  serializerByName,
  serializerForContentType,
  type ResultBackend,
  type ResultDocument,
  type StoreOptions,
  type WaitOptions,
} from '@celeriac/core';
import { amqpTarget, waitTimeoutError } from '@celeriac/core/internal';
import type { Channel, ConsumeMessage } from 'amqplib';
import {
  compileRpcResultBackendOptions,
  type CompiledRpcResultBackendOptions,
  type RpcResultBackendOptions,
} from './options.js';
import { asError, openRpcChannel, ReplyPublisher } from './reply-publisher.js';
import { ResultCache, resultOfReply } from './result-cache.js';

/**
 * Where a result goes, beyond the core `StoreOptions`: the task message's `reply_to` and
 * `correlation_id`, which a worker passes through (see `RpcResultBackend.store`).
 */
export interface RpcStoreOptions extends StoreOptions {
  /** The queue to send the result to; `''` sends nothing, as Celery does for a task without one. */
  replyTo?: string;
  /** @default the task id */
  correlationId?: string;
}

export type RpcResultBackendState = 'open' | 'closed';

/** Marks the messages `get()` sends itself to know it has read everything sent before. */
const SYNC_HEADER = 'x-celeriac-sync';

interface Waiter {
  resolve(doc: ResultDocument): void;
  reject(err: unknown): void;
}

interface Consuming {
  readonly generation: number;
  readonly channel: Channel;
}

/**
 * Celery's `rpc://` result backend on RabbitMQ (`celery/backends/rpc.py`): a client reads the
 * results of its tasks from a reply queue of its own, named in each task's `reply_to`; a worker
 * sends a result to the default exchange with that queue as routing key and `correlation_id` =
 * the task id, its body Celery's `{task_id, status, result, traceback, children}` (Celeriac's
 * full result document, which Celery reads alike). Python and Node sides interoperate both ways.
 *
 * Results are transient, as in Celery: the process that owns the reply queue consumes it and
 * keeps what arrives in memory (up to `cacheLimit`, each for `resultExpiresMs`), so `get()` and
 * `waitFor()` answer for its own tasks; nothing persists beyond the process. The reply queue is
 * non-durable, expires a day after its last consumer went (`close()` deletes it), and is
 * declared again after a reconnection. There are no groups or chords, as in Celery.
 *
 * A stored SUCCESS is final for the reader: a later state for the same task is ignored.
 *
 * @example
 * ```ts
 * const backend = new RpcResultBackend({ url: 'rpc://', brokerUrl: 'amqp://guest:guest@localhost//' });
 * await backend.declareReplyQueue();   // before publishing tasks with reply_to = backend.replyTo
 * const doc = await backend.waitFor(taskId, { timeoutMs: 10_000 });
 * ```
 */
export class RpcResultBackend implements ResultBackend {
  readonly kind = 'rpc' as const;
  /** The queue this backend's results come back on: set it as `reply_to` on published tasks. */
  readonly replyTo: string;
  readonly #o: CompiledRpcResultBackendOptions;
  readonly #conn: AmqpConnection;
  readonly #publisher: ReplyPublisher;
  readonly #target: string | undefined;
  #state: RpcResultBackendState = 'open';
  #closing: Promise<void> | undefined;
  /** Set once anything needed the reply queue: from then on it is kept up across reconnections. */
  #consumeWanted = false;
  #consuming: Promise<Consuming> | undefined;
  readonly #cache: ResultCache;
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #syncs = new Map<string, { resolve(): void; reject(err: Error): void }>();
  #consumeChannel: Channel | undefined;

  constructor(options: RpcResultBackendOptions) {
    this.#o = compileRpcResultBackendOptions(options);
    this.replyTo = this.#o.replyQueue;
    this.#target = amqpTarget(this.#o.amqpUrl);
    this.#cache = new ResultCache(this.#o.cacheLimit, this.#o.resultExpiresMs, this.#o.clock);
    this.#conn = new AmqpConnection({
      url: this.#o.amqpUrl,
      role: 'rpc-backend',
      name: this.#o.connectionName,
      heartbeat: this.#o.heartbeat,
      connectTimeoutMs: this.#o.connectTimeoutMs,
      reconnectInitialDelayMs: this.#o.reconnectInitialDelayMs,
      reconnectMaxDelayMs: this.#o.reconnectMaxDelayMs,
      socketOptions: this.#o.socketOptions,
      failoverStrategy: this.#o.failoverStrategy,
      logger: this.#o.logger,
    });
    this.#conn.on('open', (_model: unknown, generation: number) => this.#reconnected(generation));
    this.#publisher = new ReplyPublisher(this.#conn, this.#o);
  }

  get state(): RpcResultBackendState {
    return this.#state;
  }

  /**
   * Declares the reply queue and starts reading it. A client awaits this before it publishes a
   * task with `reply_to` = `replyTo`, so a fast worker's result finds the queue there (Celery's
   * `on_task_call`). Idempotent; `get()` and `waitFor()` call it too.
   */
  async declareReplyQueue(): Promise<void> {
    this.#assertOpen('declareReplyQueue');
    await this.#ensureConsuming('declareReplyQueue');
  }

  /**
   * Sends the document to the task's reply queue, then acks `options.ack`. The queue is
   * `options.replyTo` when given (`''`: send nothing), else the `reply_to` of the acked task
   * message (`''`: nothing, as Celery's worker sends nothing for a task without one), else this
   * backend's own queue (a result stored for itself).
   */
  async store(doc: ResultDocument, options: RpcStoreOptions = {}): Promise<void> {
    this.#assertOpen('store');
    const target = this.#destination(options);
    if (target !== undefined) {
      const body = serializerByName(this.#o.serializer).encode(doc);
      if (target === this.replyTo) await this.#ensureConsuming('store');
      const correlationId =
        options.correlationId ??
        stringOr(options.ack?.message.properties.correlation_id) ??
        doc.task_id;
      const expiration = String(Math.ceil(options.expiresMs ?? this.#o.resultExpiresMs));
      // Transient results for a task from the same RabbitMQ: reply and ack on the task's own
      // channel, in that order, with no confirm round trip (see AmqpFusedAck).
      const fused = this.#o.persistent ? undefined : options.ack?.fusedAck?.();
      if (fused !== undefined && isAmqpFusedAck(fused) && fused.target === this.#target) {
        const serializer = serializerByName(this.#o.serializer);
        const sent = fused.replyThenAck({
          queue: target,
          body,
          contentType: serializer.contentType,
          contentEncoding: serializer.contentEncoding,
          correlationId,
          expiration,
        });
        if (sent) return sent;
      }
      await this.#publisher.publish('store', target, body, {
        correlationId,
        expiration,
      });
    } else {
      this.#o.logger.debug(
        { taskId: doc.task_id },
        'the task has no reply_to: its result is not sent (as Celery does)',
      );
    }
    if (options.ack) await options.ack.ack();
  }

  /** The latest state received for the task, after reading everything sent to the queue so far. */
  async get(taskId: string): Promise<ResultDocument | null> {
    this.#assertOpen('get');
    await this.#sync('get');
    return this.#cache.get(taskId);
  }

  async getMany(taskIds: readonly string[]): Promise<(ResultDocument | null)[]> {
    this.#assertOpen('getMany');
    if (taskIds.length === 0) return [];
    await this.#sync('getMany');
    return taskIds.map((id) => this.#cache.get(id));
  }

  waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultDocument> {
    this.#assertOpen('waitFor');
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(asError(signal.reason));
    return new Promise<ResultDocument>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => finish(() => reject(asError(signal?.reason)));
      const waiter: Waiter = {
        resolve: (doc) => finish(() => resolve(doc)),
        reject: (err) => finish(() => reject(asError(err))),
      };
      const finish = (settle: () => void): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const set = this.#waiters.get(taskId);
        set?.delete(waiter);
        if (set?.size === 0) this.#waiters.delete(taskId);
        settle();
      };
      let set = this.#waiters.get(taskId);
      if (!set) this.#waiters.set(taskId, (set = new Set()));
      set.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          waiter.reject(waitTimeoutError(taskId, timeoutMs));
        }, timeoutMs);
      }
      const ready = this.#cache.ready(taskId);
      if (ready) {
        waiter.resolve(ready);
        return;
      }
      this.#ensureConsuming('waitFor').then(
        () => {
          const doc = this.#cache.ready(taskId);
          if (doc) waiter.resolve(doc);
        },
        (err: unknown) => waiter.reject(err),
      );
    });
  }

  /** Forgets what this process received for the task, including what is still on its way. */
  async forget(taskId: string): Promise<void> {
    this.#assertOpen('forget');
    await this.#sync('forget');
    this.#cache.delete(taskId);
  }

  /**
   * Rejects pending waits with `CELERIAC_ERR_CLOSED`, deletes the reply queue (unless it was
   * named in the options) and closes the connection. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    const closed = new CeleriacError(ErrorCodes.CLOSED, 'RpcResultBackend closed while waiting');
    for (const set of [...this.#waiters.values()]) for (const w of [...set]) w.reject(closed);
    this.#waiters.clear();
    const consuming = this.#consuming;
    this.#consuming = undefined;
    if (consuming && this.#o.ownsReplyQueue) {
      try {
        const { channel } = await consuming;
        await channel.deleteQueue(this.replyTo);
      } catch {
        // gone with the connection; it expires by itself (x-expires)
      }
    }
    await this.#conn.close();
    for (const sync of [...this.#syncs.values()]) sync.reject(closed);
    this.#syncs.clear();
  }

  #assertOpen(what: string): void {
    if (this.#state !== 'open') {
      throw new CeleriacError(ErrorCodes.CLOSED, `RpcResultBackend.${what}() called after close()`);
    }
  }

  #destination(options: RpcStoreOptions): string | undefined {
    if (options.replyTo !== undefined) return options.replyTo === '' ? undefined : options.replyTo;
    if (options.ack) {
      const replyTo = options.ack.message.properties.reply_to;
      if (replyTo !== undefined) return replyTo === '' ? undefined : replyTo;
    }
    return this.replyTo;
  }

  /**
   * After a reconnection, the reply queue is declared and read again if anyone needs it, until
   * that works or the connection is replaced. On a cluster, the node the connection failed over
   * to may for a moment still hold the old queue, on the node that went down, and answer 404.
   */
  #reconnected(generation: number): void {
    if (!this.#consumeWanted || this.#state !== 'open' || generation <= 1) return;
    this.#consuming = undefined;
    void this.#redeclare(generation);
  }

  async #redeclare(generation: number): Promise<void> {
    let delay = this.#o.reconnectInitialDelayMs;
    const current = (): boolean =>
      this.#state === 'open' && this.#consumeWanted && this.#conn.generation === generation;
    for (let attempt = 0; current(); attempt++) {
      try {
        await this.#ensureConsuming('reconnect');
        return;
      } catch (err) {
        if (attempt === 0) {
          this.#o.logger.warn({ err }, 'could not read the rpc:// reply queue again; retrying');
        }
        await sleep(delay * (0.5 + Math.random() / 2));
        delay = Math.min(delay * 2, this.#o.reconnectMaxDelayMs);
      }
    }
  }

  #ensureConsuming(what: string): Promise<Consuming> {
    this.#consumeWanted = true;
    const current = this.#consuming;
    if (current) return current;
    const started = this.#startConsuming(what);
    this.#consuming = started;
    started.catch(() => {
      if (this.#consuming === started) this.#consuming = undefined;
    });
    return started;
  }

  async #startConsuming(what: string): Promise<Consuming> {
    const model = await this.#conn.acquire(what);
    const generation = this.#conn.generation;
    const channel = await openRpcChannel(model, false, this.#o.logger);
    let closed = false;
    channel.on('close', () => {
      closed = true;
      this.#consumerLost(channel);
    });
    try {
      await channel.assertQueue(this.replyTo, {
        durable: false,
        autoDelete: false,
        exclusive: false,
        arguments: { 'x-expires': this.#o.replyQueueExpiresMs },
      });
      await channel.consume(this.replyTo, (m) => this.#onReply(channel, m), { noAck: true });
      if (closed) throw new Error('the channel closed while the reply queue was being set up');
    } catch (err) {
      await channel.close().catch(() => undefined);
      throw this.#translate(err, what);
    }
    this.#consumeChannel = channel;
    return { generation, channel };
  }

  /**
   * The reply queue's consumer went (a cancel: the queue was deleted, or its node went down; or
   * its channel closed): read the queue again, retrying, since a client declares it only once.
   * When the whole connection went, `#reconnected` does it on the next one.
   */
  #consumerLost(channel: Channel): void {
    if (this.#consumeChannel !== channel) return;
    this.#consumeChannel = undefined;
    this.#consuming = undefined;
    const generation = this.#conn.generation;
    setImmediate(() => {
      if (this.#conn.state === 'open' && this.#conn.generation === generation) {
        void this.#redeclare(generation);
      }
    });
  }

  #onReply(channel: Channel, m: ConsumeMessage | null): void {
    if (m === null) {
      // RabbitMQ cancelled the consumer: the queue was deleted. Declare it again.
      this.#consumerLost(channel);
      void channel.close().catch(() => undefined);
      return;
    }
    const headers = (m.properties.headers ?? {}) as Record<string, unknown>;
    const correlationId = m.properties.correlationId as unknown;
    if (headers[SYNC_HEADER] !== undefined) {
      if (typeof correlationId === 'string') this.#syncs.get(correlationId)?.resolve();
      return;
    }
    let reply: ReturnType<typeof resultOfReply>;
    try {
      reply = resultOfReply(
        serializerForContentType(String(m.properties.contentType ?? 'application/json')).decode(
          m.content,
        ),
        correlationId,
      );
    } catch (err) {
      this.#o.logger.warn(
        { err, correlationId },
        'ignoring a message on the rpc:// reply queue that is not a result',
      );
      return;
    }
    if (reply === undefined) return;
    const { taskId, doc: normalized } = reply;
    if (!this.#cache.put(taskId, normalized, Number(m.properties.expiration))) return;
    if (isReadyState(normalized.status)) {
      for (const w of [...(this.#waiters.get(taskId) ?? [])])
        w.resolve(structuredClone(normalized));
    }
  }

  /**
   * Makes sure everything sent to the reply queue before now has been read: sends the queue a
   * marker and waits for it to come back (a queue is FIFO).
   */
  async #sync(what: string): Promise<void> {
    await this.#ensureConsuming(what);
    const id = `celeriac-sync-${randomUUID()}`;
    const arrived = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#syncs.delete(id);
        reject(backendUnavailable(this.#o.amqpUrl, 'the reply queue did not answer', what));
      }, this.#o.connectTimeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#syncs.delete(id);
      };
      this.#syncs.set(id, {
        resolve: () => {
          done();
          resolve();
        },
        reject: (err) => {
          done();
          reject(err);
        },
      });
    });
    try {
      await this.#publisher.publish(what, this.replyTo, Buffer.alloc(0), {
        correlationId: id,
        expiration: String(this.#o.connectTimeoutMs),
        headers: { [SYNC_HEADER]: 1 },
      });
    } catch (err) {
      this.#syncs.get(id)?.resolve();
      throw err;
    }
    await arrived;
  }

  #translate(err: unknown, what: string): Error {
    if (isCeleriacError(err)) return err;
    return backendUnavailable(this.#o.amqpUrl, err, what);
  }
}

function stringOr(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
