import {
  CeleriacError,
  DEFAULT_RESULT_EXPIRES_MS,
  ErrorCodes,
  jsonSerializer,
  silentLogger,
  type Delivery,
  type FusableAck,
  type Logger,
  type ResultBackend,
  type ResultDocument,
  type StoreOptions,
  type WaitOptions,
  optionChecks,
  optionTypes as t,
  redactUrl,
  type OptionType,
} from '@celeriac/core';
import { Redis, type RedisOptions } from 'ioredis';
import { endpointTarget, normalizeTarget, parseRedisUrl, toBackendError } from './connection.js';
import { CELERY_TASK_KEY_PREFIX, ResultKeys } from './keys.js';
import { ResultSubscriber, quit } from './result-subscriber.js';
import { runStoreMany } from './scripts.js';

/** Options of `RedisResultBackend`. Pass `url`, or `client` to share a connection. */
export interface RedisResultBackendOptions {
  /**
   * `redis://[[user]:password@]host[:port][/db]` or `rediss://…` (TLS), as Celery's
   * `result_backend` setting. Required unless `client` is given.
   */
  url?: string;
  /**
   * An ioredis client to run commands on, instead of opening one from `url`. The backend
   * never closes it. Waiting for results needs a connection in subscriber mode, which the
   * backend opens itself with `client.duplicate()` (and closes). The client must not have a
   * `keyPrefix`: use this backend's `keyPrefix` option.
   * @default a client opened from `url`
   */
  client?: Redis;
  /**
   * How long a stored document lives, in milliseconds, unless `store()` says otherwise
   * (Celery's `result_expires`).
   * @default DEFAULT_RESULT_EXPIRES_MS (one day)
   */
  resultExpiresMs?: number;
  /**
   * Prefix of the result keys and channels. Python clients read Celery's.
   * @default 'celery-task-meta-'
   */
  keyPrefix?: string;
  /**
   * A pino-shaped logger; the backend logs through a child bound to `{ component: 'result-backend', backend: 'redis' }`.
   * @default silentLogger
   */
  logger?: Logger;
  /**
   * ioredis options for the connections the backend opens from `url` (its command
   * connection and its subscriber). Values in the URL win over these, as ioredis does.
   * @default {}
   */
  redisOptions?: RedisOptions;
}

interface CompiledOptions {
  readonly url: string;
  readonly resultExpiresMs: number;
  readonly keyPrefix: string;
  readonly logger: Logger;
  readonly redisOptions: RedisOptions;
}

const STORE_OPERATION = 'store (EVALSHA store-many)';

/** The most documents one store-many script call carries; a longer queue is split. */
const MAX_STORES_PER_CALL = 500;

/** A document's slot in the store-many reply: 1 stored, 0 a SUCCESS kept, or what failed. */
type StoreReply = number | string;

/**
 * Redis commands whose last word may be repeated, `HDEL h a` + `HDEL h b` doing what
 * `HDEL h a b` does, with the fewest words they take.
 */
const MERGEABLE: ReadonlyMap<string, number> = new Map([
  ['HDEL', 3],
  ['ZREM', 3],
  ['SREM', 3],
  ['DEL', 2],
  ['UNLINK', 2],
]);

function mergeable(command: readonly (string | number | Buffer)[]): boolean {
  const name = command[0];
  const least = typeof name === 'string' ? MERGEABLE.get(name.toUpperCase()) : undefined;
  return least !== undefined && command.length >= least;
}

/** Identity of a command's template (all but its last word), or undefined to keep it apart. */
function templateId(command: readonly (string | number | Buffer)[]): string | undefined {
  let id = '';
  for (let w = 0; w < command.length - 1; w++) {
    const word = command[w];
    if (typeof word !== 'string') return undefined; // Buffers and numbers: not worth comparing
    id += `${word.length}:${word}`;
  }
  return id;
}

/** A store waiting for the next store-many call. */
interface PendingStore {
  readonly key: string;
  readonly payload: string;
  readonly ttlMs: number;
  readonly doc: ResultDocument;
  /** The delivery to ack once the document is written. */
  readonly delivery: Delivery | undefined;
  /** Its ack commands, when they run in the store's own script call. */
  readonly ack: FusableAck | undefined;
  /** Called instead of the usual completion (the plain store of a fused one's fallback). */
  readonly answered?: (reply: StoreReply | Error) => void;
  resolve: (this: void) => void;
  reject: (this: void, err: unknown) => void;
}

const noop = (): void => undefined;

type LifecycleState = 'open' | 'closing' | 'closed';

function invalid(option: string, message: string, value: unknown): CeleriacError {
  return new CeleriacError(ErrorCodes.INVALID_OPTION, message, { details: { option, value } });
}

function checkExpires(option: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw invalid(
      option,
      `${option} must be a positive number of milliseconds, got ${String(value)}: every result document expires`,
      value,
    );
  }
  return Math.ceil(value);
}

const SPEC = {
  url: t.nonEmptyString,
  client: t.object,
  resultExpiresMs: t.positive,
  keyPrefix: t.nonEmptyString,
  logger: t.object,
  redisOptions: t.object,
} as const satisfies { readonly [K in keyof Required<RedisResultBackendOptions>]: OptionType };

function compileOptions(options: RedisResultBackendOptions): CompiledOptions {
  optionChecks('RedisResultBackend').strict(options, SPEC, {
    renamed: { resultExpires: 'resultExpiresMs' },
  });
  const { client } = options;
  let url: string;
  if (client) {
    if (client.options.keyPrefix) {
      throw invalid(
        'client',
        `the ioredis client passed to RedisResultBackend has keyPrefix "${client.options.keyPrefix}"; pass a client without one and set the backend's keyPrefix option`,
        client.options.keyPrefix,
      );
    }
    const { host = 'localhost', port = 6379, db = 0 } = client.options;
    url = endpointTarget({ host, port, db });
  } else if (options.url) {
    url = options.url;
  } else {
    throw invalid(
      'url',
      'RedisResultBackend needs a url (such as "redis://localhost:6379/0") or an ioredis client',
      undefined,
    );
  }
  const keyPrefix = options.keyPrefix ?? CELERY_TASK_KEY_PREFIX;
  if (typeof keyPrefix !== 'string' || keyPrefix === '') {
    throw invalid('keyPrefix', 'keyPrefix must be a non-empty string', keyPrefix);
  }
  return {
    url,
    resultExpiresMs: checkExpires(
      'resultExpiresMs',
      options.resultExpiresMs ?? DEFAULT_RESULT_EXPIRES_MS,
    ),
    keyPrefix,
    logger: (options.logger ?? silentLogger).child({
      component: 'result-backend',
      backend: 'redis',
    }),
    redisOptions: options.redisOptions ?? {},
  };
}

function isResultDocument(value: unknown): value is ResultDocument {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as { status?: unknown }).status === 'string'
  );
}

/**
 * A `ResultBackend` on Redis with Celery's layout: a task's document is JSON at
 * `celery-task-meta-<id>`, set with a TTL and published on the channel of the same name, so
 * Python Celery clients read what Celeriac workers store and the reverse.
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
  /** `FusableAck.target` of this backend's server and database. */
  private readonly target: string;
  private readonly keys: ResultKeys;
  private readonly expiresMs: number;
  private readonly logger: Logger;
  private readonly subscriber: ResultSubscriber;
  private state: LifecycleState = 'open';
  private closing: Promise<void> | undefined;
  private pendingStores: PendingStore[] = [];
  private storeFlushScheduled = false;
  /** The last `FusableAck.target` seen and whether it is this backend's; deliveries repeat it. */
  private lastTarget: { readonly target: string; readonly own: boolean } | undefined;

  constructor(options: RedisResultBackendOptions) {
    const o = compileOptions(options);
    this.url = redactUrl(o.url);
    this.keys = new ResultKeys(o.keyPrefix);
    this.expiresMs = o.resultExpiresMs;
    this.logger = o.logger;

    let client: Redis;
    let openSubscriber: () => Redis;
    // CLIENT LIST names the connections: `<name>` runs commands, `<name>-sub` waits for results.
    const name =
      options.client?.options.connectionName ?? o.redisOptions.connectionName ?? 'celeriac-results';
    const subscriberOverrides: Partial<RedisOptions> = {
      // Renewed by ResultSubscriber, which also re-reads the keys after subscribing.
      autoResubscribe: false,
      lazyConnect: false,
      connectionName: `${name}-sub`,
    };
    if (options.client) {
      client = options.client;
      this.ownsClient = false;
      this.target = normalizeTarget(o.url) ?? o.url;
      openSubscriber = () => this.watch(client.duplicate(subscriberOverrides), 'subscriber');
    } else {
      const endpoint = parseRedisUrl(o.url);
      this.target = endpointTarget(endpoint);
      client = this.watch(
        new Redis(o.url, { ...o.redisOptions, connectionName: name, lazyConnect: true }),
        'commands',
      );
      this.ownsClient = true;
      openSubscriber = () =>
        this.watch(new Redis(o.url, { ...o.redisOptions, ...subscriberOverrides }), 'subscriber');
    }
    this.client = client;

    this.subscriber = new ResultSubscriber({
      connect: openSubscriber,
      read: (keys) => this.readRaw(keys),
      decode: (payload, key) => this.decode(payload, key),
      toError: (err, operation) => this.toError(err, operation),
      logger: this.logger,
    });
  }

  /**
   * Stores a task's document, unless a SUCCESS is already stored for it, and publishes it.
   * With `ack`, acks the delivery afterwards: in the same round trip when the broker is on
   * this Redis server and database (`Delivery.fusableAck`), otherwise with `ack.ack()`.
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
      const offered = ack?.fusableAck?.();
      store = {
        key: this.keys.task(doc.task_id),
        payload: jsonSerializer.encodeText(doc),
        ttlMs,
        doc,
        delivery: ack,
        ack: offered && this.isOwnTarget(offered.target) ? offered : undefined,
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
      this.enqueueStore(store);
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
      this.enqueueStore(
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

  /**
   * Queues a store for the store-many call sent once the current turn of the event loop is
   * over (`process.nextTick`): every task that finished in that turn shares one round trip.
   */
  private enqueueStore(store: PendingStore, answered?: (reply: StoreReply | Error) => void): void {
    this.pendingStores.push(answered ? { ...store, answered } : store);
    if (!this.storeFlushScheduled) {
      this.storeFlushScheduled = true;
      process.nextTick(this.flushStores);
    }
  }

  private readonly flushStores = (): void => {
    this.storeFlushScheduled = false;
    const pending = this.pendingStores;
    this.pendingStores = [];
    // One call per TTL (the script takes one): a single one unless stores pass expiresMs.
    const ttl = pending[0]!.ttlMs;
    let groups: PendingStore[][] = [pending];
    if (pending.some((p) => p.ttlMs !== ttl)) {
      const byTtl = new Map<number, PendingStore[]>();
      for (const p of pending) {
        const group = byTtl.get(p.ttlMs);
        if (group) group.push(p);
        else byTtl.set(p.ttlMs, [p]);
      }
      groups = [...byTtl.values()];
    }
    for (const group of groups) {
      for (let i = 0; i < group.length; i += MAX_STORES_PER_CALL) {
        this.sendStores(
          group.length <= MAX_STORES_PER_CALL ? group : group.slice(i, i + MAX_STORES_PER_CALL),
        );
      }
    }
  };

  private sendStores(batch: readonly PendingStore[]): void {
    const keys: string[] = [];
    const templateArgs: (string | number | Buffer)[] = [];
    const docArgs: (string | number | Buffer)[] = [];
    const templates = new Map<string, number>();
    let templateCount = 0;
    for (const p of batch) {
      keys.push(p.key);
      docArgs.push(p.payload);
      const commands = p.ack?.commands;
      if (!commands) {
        docArgs.push(0);
        continue;
      }
      docArgs.push(commands.length);
      for (const command of commands) {
        // A command's template is every word but its last; documents acking the same way
        // (HDEL unacked <tag>) share one.
        const id = templateId(command);
        let index = id === undefined ? undefined : templates.get(id);
        if (index === undefined) {
          index = ++templateCount;
          if (id !== undefined) templates.set(id, index);
          templateArgs.push(mergeable(command) ? 1 : 0, Math.max(0, command.length - 1));
          for (let w = 0; w < command.length - 1; w++) templateArgs.push(command[w]!);
        }
        docArgs.push(index, command[command.length - 1] ?? '');
      }
    }
    runStoreMany(this.client, keys, [
      batch[0]!.ttlMs,
      templateCount,
      ...templateArgs,
      ...docArgs,
    ]).then(
      (replies) => {
        for (let i = 0; i < batch.length; i++)
          this.answer(batch[i]!, replies[i] ?? 'store: no reply');
      },
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        for (const p of batch) this.answer(p, e);
      },
    );
  }

  private answer(store: PendingStore, reply: StoreReply | Error): void {
    try {
      if (store.answered) store.answered(reply);
      else this.storeAnswered(store, reply);
    } catch (err) {
      // One store's completion (its settled(), say) failing must not leave the others waiting.
      store.reject(err);
    }
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
    return raw.map((payload, i) => (payload ? this.decode(payload, keys[i] ?? '') : null));
  }

  /** One round trip: GET for one key, MGET for several. */
  private async readRaw(keys: readonly string[]): Promise<(Buffer | null)[]> {
    const [first] = keys;
    if (first === undefined) {
      this.assertOpen('get');
      return [];
    }
    if (keys.length === 1) return [await this.run('get (GET)', () => this.client.getBuffer(first))];
    return this.run('getMany (MGET)', () => this.client.mgetBuffer(...keys));
  }

  private decode(payload: Buffer, key: string): ResultDocument {
    let value: unknown;
    try {
      value = jsonSerializer.decode(payload);
    } catch (err) {
      throw new CeleriacError(
        ErrorCodes.SERIALIZATION,
        `the result at ${key} is not JSON; Celeriac reads results stored with Celery's json result_serializer`,
        { cause: err, details: { key } },
      );
    }
    if (!isResultDocument(value)) {
      throw new CeleriacError(
        ErrorCodes.SERIALIZATION,
        `the value at ${key} is not a Celery result document (no "status")`,
        { details: { key } },
      );
    }
    // Celery writes `children: null` when it stores outside a task (store_result without a
    // request); the contract's documents always carry a list.
    if (!Array.isArray(value.children)) value.children = [];
    return value;
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
    return toBackendError(err, this.url, operation);
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
