import {
  CeleriacError,
  type ChordJoin,
  type ChordPart,
  ErrorCodes,
  type Logger,
  type ResultBackend,
  type ResultDocument,
  type SerializerName,
  type StoreOptions,
  type WaitOptions,
} from '@celeriac/core';
import { redactUrl } from '@celeriac/core/internal';
import {
  isClusterClient,
  isRedisFusedAck,
  openRedisClient,
  toRedisError,
} from '@celeriac/broker/redis/internal';
import type { Redis, RedisOptions } from 'ioredis';
import { normalizeTarget, urlTarget } from './connection.js';
import { ResultKeys } from './keys.js';
import { chordKeys, groupKey, redisChordPartReturned } from './chord-join.js';
import {
  checkExpires,
  compileRedisResultBackendOptions,
  invalid,
  type RedisResultBackendOptions,
} from './options.js';
import { ResultSubscriber, quit } from './result-subscriber.js';
import { decodeGroup, decodeResult, encodeGroup, encodeResult } from './result-codec.js';
import { StoreBatcher, type PendingStore, type StoreReply } from './store-batcher.js';

export type { RedisResultBackendOptions } from './options.js';

const STORE_OPERATION = 'store (EVALSHA store-many)';

const noop = (): void => undefined;

type LifecycleState = 'open' | 'closing' | 'closed';

/**
 * A `ResultBackend` on Redis with Celery's layout: a task's document is JSON (or msgpack, with
 * `serializer`, Celery's `result_serializer`) at `celery-task-meta-<id>`, set with a TTL and
 * published on the channel of the same name, so Python Celery clients read what Celeriac
 * workers store and the reverse. Documents are read in either format, whatever this writes.
 *
 * Beyond Celery: the "a stored SUCCESS is never overwritten" check is atomic with the write
 * (one Lua script); storing a result and acking its message is one round trip when the broker
 * is on the same server and database; every `waitFor` of the backend shares one subscriber
 * connection, and survives a reconnect without missing a result.
 */
export class RedisResultBackend implements ResultBackend {
  readonly kind = 'redis' as const;
  /** The server this backend talks to, with any password masked. */
  readonly url: string;

  private readonly client: Redis;
  private readonly ownsClient: boolean;
  /** `RedisFusedAck.target` of this backend's server and database. */
  private readonly target: string;
  private readonly keys: ResultKeys;
  private readonly expiresMs: number;
  private readonly serializer: SerializerName;
  private readonly logger: Logger;
  private readonly subscriber: ResultSubscriber;
  private state: LifecycleState = 'open';
  private closing: Promise<void> | undefined;
  private readonly stores: StoreBatcher;
  /** The last `RedisFusedAck.target` seen and whether it is this backend's; deliveries repeat it. */
  private lastTarget: { readonly target: string; readonly own: boolean } | undefined;

  constructor(options: RedisResultBackendOptions) {
    const o = compileRedisResultBackendOptions(options);
    this.url = redactUrl(o.url);
    this.keys = new ResultKeys(o.keyPrefix);
    this.expiresMs = o.resultExpiresMs;
    this.serializer = o.serializer;
    this.logger = o.logger;

    let client: Redis;
    let openSubscriber: () => Redis;
    // CLIENT LIST names the connections: `<name>` runs commands, `<name>-sub` waits for results.
    const name =
      options.client?.options.connectionName ?? o.redisOptions.connectionName ?? 'celeriac-results';
    const subscriberOverrides: RedisOptions = {
      // Renewed by ResultSubscriber, which also re-reads the keys after subscribing.
      autoResubscribe: false,
      connectionName: `${name}-sub`,
    };
    if (options.client) {
      client = options.client;
      this.ownsClient = false;
      this.target = normalizeTarget(o.url) ?? o.url;
      openSubscriber = () =>
        this.watch(
          openRedisClient(client, { lazyConnect: false, overrides: subscriberOverrides }),
          'subscriber',
        );
    } else {
      this.target = urlTarget(o.url, o.redisOptions);
      // No auto-pipelining unless asked for: store-many calls go straight to the connection
      // anyway, and a lone GET gains nothing from waiting for the next turn.
      const fromUrl = { redisOptions: o.redisOptions, autoPipelining: false };
      client = this.watch(
        openRedisClient(o.url, { ...fromUrl, connectionName: 'celeriac-results' }),
        'commands',
      );
      this.ownsClient = true;
      openSubscriber = () =>
        this.watch(
          openRedisClient(o.url, {
            ...fromUrl,
            lazyConnect: false,
            overrides: subscriberOverrides,
          }),
          'subscriber',
        );
    }
    this.client = client;
    this.stores = new StoreBatcher(client, o.wait, (store, reply) =>
      this.storeAnswered(store, reply),
    );

    this.subscriber = new ResultSubscriber({
      connect: openSubscriber,
      read: (keys) => this.readRaw(keys),
      decode: decodeResult,
      toError: (err, operation) => this.toError(err, operation),
      logger: this.logger,
    });
  }

  /**
   * Stores a task's document, unless a SUCCESS is already stored for it, and publishes it.
   * With `ack`, acks the delivery afterwards: in the same round trip when the broker is on
   * this Redis server and database (`Delivery.fusedAck`, a `RedisFusedAck`), otherwise with
   * `ack.ack()`.
   */
  store(doc: ResultDocument, options: StoreOptions = {}): Promise<void> {
    let store: PendingStore;
    try {
      this.assertOpen('store');
      if (typeof doc.task_id !== 'string' || doc.task_id === '') {
        throw invalid('doc.task_id', 'a result document needs a task_id', doc.task_id);
      }
      const ttlMs =
        options.expiresMs === undefined
          ? this.expiresMs
          : checkExpires('expiresMs', options.expiresMs);
      const { ack } = options;
      const offered = ack?.fusedAck?.();
      store = {
        key: this.keys.task(doc.task_id),
        payload: encodeResult(doc, this.serializer),
        ttlMs,
        doc,
        delivery: ack,
        ack:
          offered && isRedisFusedAck(offered) && this.isOwnTarget(offered.target)
            ? offered
            : undefined,
        resolve: noop,
        reject: noop,
      };
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    // No async function and no promise per step: the store-many reply settles this one.
    return new Promise<void>((resolve, reject) => {
      store.resolve = resolve;
      store.reject = reject;
      this.stores.enqueue(store);
    });
  }

  /** A store's slot in a store-many reply (or the call's failure) arrived. */
  private storeAnswered(store: PendingStore, reply: StoreReply | Error): void {
    const { ack, delivery } = store;
    if (typeof reply === 'number') {
      ack?.settled();
      this.logStored(store.doc, reply);
      if (delivery && !ack) delivery.ack().then(store.resolve, store.reject);
      else store.resolve();
      return;
    }
    if (!ack) {
      const err = typeof reply === 'string' ? new Error(reply.replace(/^store: /, '')) : reply;
      store.reject(this.toError(err, STORE_OPERATION));
      return;
    }
    // The write or the ack failed (or the call as a whole did). Store again, alone (a kept
    // SUCCESS makes that harmless), then ack the ordinary way.
    this.logger.warn(
      { err: typeof reply === 'string' ? new Error(reply) : reply, taskId: store.doc.task_id },
      'fused store + ack failed; storing and acking separately',
    );
    this.storeAlone(store).then(store.resolve, store.reject);
  }

  private async storeAlone(store: PendingStore): Promise<void> {
    this.assertOpen(STORE_OPERATION);
    const again = await new Promise<StoreReply | Error>((resolve) => {
      this.stores.enqueue(
        { ...store, ack: undefined, delivery: undefined, resolve: noop, reject: noop },
        resolve,
      );
    });
    if (typeof again !== 'number') {
      const err = typeof again === 'string' ? new Error(again.replace(/^store: /, '')) : again;
      throw this.toError(err, STORE_OPERATION);
    }
    this.logStored(store.doc, again);
    await store.delivery!.ack();
  }

  async get(taskId: string): Promise<ResultDocument | null> {
    const [doc] = await this.readMany([this.keys.task(taskId)]);
    return doc ?? null;
  }

  /** Reads many documents in one round trip (MGET), in the order of `taskIds`. */
  async getMany(taskIds: readonly string[]): Promise<(ResultDocument | null)[]> {
    return this.readMany(taskIds.map((id) => this.keys.task(id)));
  }

  /**
   * Resolves once the task is ready (SUCCESS, FAILURE, REVOKED), by pub/sub: the backend's
   * one subscriber connection subscribes to the task's channel, then reads its key.
   */
  async waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultDocument> {
    this.assertOpen('waitFor', taskId);
    return this.subscriber.wait(this.keys.task(taskId), taskId, options);
  }

  async forget(taskId: string): Promise<void> {
    await this.run('forget (DEL)', () => this.client.del(this.keys.task(taskId)));
  }

  /** Celery's Redis native chord join (`celery-taskset-meta-<gid>.j`, `.t`, `.s`): see chord-join.ts. */
  chordPartReturned(part: ChordPart): Promise<ChordJoin | undefined> {
    const join = () =>
      redisChordPartReturned(this.client, this.keys.prefix, this.expiresMs, part, this.serializer);
    return this.run('chordPartReturned (EVALSHA chord-part)', join);
  }

  /** Celery's `set_chord_size`: `celery-taskset-meta-<gid>.s`, expiring as results do. */
  async setChordSize(groupId: string, size: number): Promise<void> {
    const sizeKey = chordKeys(this.keys.prefix, groupId, isClusterClient(this.client))[2];
    await this.run('setChordSize (SET)', () =>
      this.client.set(sizeKey, String(size), 'PX', this.expiresMs),
    );
  }

  /**
   * Celery's `GroupResult.save()`: `celery-taskset-meta-<gid>` holds
   * `{"result": [[gid, null], [[[id, null], null], ...]]}` (`GroupResult.as_tuple()`), JSON.
   */
  async saveGroup(groupId: string, taskIds: readonly string[]): Promise<void> {
    const key = groupKey(this.keys.prefix, groupId);
    const doc = { result: [[groupId, null], taskIds.map((id) => [[id, null], null])] };
    await this.run('saveGroup (SET)', () =>
      this.client.set(key, encodeGroup(doc, this.serializer), 'PX', this.expiresMs),
    );
  }

  /** Celery's `GroupResult.restore()`: the ids of a group saved by Celery or by `saveGroup`. */
  async restoreGroup(groupId: string): Promise<string[] | null> {
    const key = groupKey(this.keys.prefix, groupId);
    const raw = await this.run('restoreGroup (GET)', () => this.client.getBuffer(key));
    if (raw === null) return null;
    const doc = decodeGroup(raw) as { result?: unknown } | null | undefined;
    const nodes = Array.isArray(doc?.result) ? (doc.result as unknown[])[1] : undefined;
    if (!Array.isArray(nodes)) return null;
    return (nodes as unknown[]).flatMap((node): string[] => {
      const head: unknown = Array.isArray(node) ? (node as unknown[])[0] : undefined;
      const id: unknown = Array.isArray(head) ? (head as unknown[])[0] : undefined;
      return typeof id === 'string' ? [id] : [];
    });
  }

  /**
   * Rejects pending waits with `CELERIAC_ERR_CLOSED`, closes the subscriber connection and,
   * when the backend opened it, the command connection. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'closing';
      try {
        await this.subscriber.close();
        if (this.ownsClient) await quit(this.client);
      } finally {
        this.state = 'closed';
      }
    })();
    return this.closing;
  }

  /** True when `target` names this backend's server and database. */
  private isOwnTarget(target: string): boolean {
    const last = this.lastTarget;
    if (last?.target === target) return last.own;
    const own = normalizeTarget(target) === this.target;
    this.lastTarget = { target, own };
    return own;
  }

  private logStored(doc: ResultDocument, reply: unknown): void {
    if (reply === 0) {
      this.logger.debug(
        { taskId: doc.task_id, status: doc.status },
        'kept the stored SUCCESS; a later state is not written over it',
      );
    }
  }

  private async readMany(keys: readonly string[]): Promise<(ResultDocument | null)[]> {
    const raw = await this.readRaw(keys);
    return raw.map((payload, i) => (payload ? decodeResult(payload, keys[i] ?? '') : null));
  }

  /** One round trip: GET for one key, MGET for several. */
  private async readRaw(keys: readonly string[]): Promise<(Buffer | null)[]> {
    const [first] = keys;
    if (first === undefined) {
      this.assertOpen('get');
      return [];
    }
    if (keys.length === 1) return [await this.run('get (GET)', () => this.client.getBuffer(first))];
    // A cluster's MGET cannot span slots: one GET per key there (auto-pipelined per node).
    if (isClusterClient(this.client)) {
      return this.run('getMany (GET)', () =>
        Promise.all(keys.map((k) => this.client.getBuffer(k))),
      );
    }
    return this.run('getMany (MGET)', () => this.client.mgetBuffer(...keys));
  }

  private async run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    this.assertOpen(operation);
    try {
      return await fn();
    } catch (err) {
      throw this.toError(err, operation);
    }
  }

  private toError(err: unknown, operation: string): Error {
    if (this.state !== 'open' && !(err instanceof CeleriacError)) {
      return new CeleriacError(
        ErrorCodes.CLOSED,
        `the Redis result backend at ${this.url} was closed during ${operation}`,
        { cause: err },
      );
    }
    return toRedisError('result backend', err, { url: this.url, operation });
  }

  private assertOpen(operation: string, taskId?: string): void {
    if (this.state === 'open') return;
    throw new CeleriacError(
      ErrorCodes.CLOSED,
      `${operation} on a closed Redis result backend (${this.url})`,
      { details: taskId === undefined ? { operation } : { operation, taskId } },
    );
  }

  /** Logs connection trouble once per outage rather than on every reconnect attempt. */
  private watch(conn: Redis, role: 'commands' | 'subscriber'): Redis {
    let down = false;
    conn.on('error', (err: Error) => {
      if (down) {
        this.logger.debug({ err, role }, 'Redis result backend connection still failing');
        return;
      }
      down = true;
      this.logger.warn(
        { err, role, url: this.url },
        'Redis result backend connection failed; reconnecting',
      );
    });
    conn.on('ready', () => {
      if (down) this.logger.info({ role, url: this.url }, 'Redis result backend reconnected');
      down = false;
    });
    return conn;
  }
}
