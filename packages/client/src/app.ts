import { randomUUID } from 'node:crypto';
import { createBroker, type CreateBrokerOptions } from '@celeriac/broker';
import { createCoordination } from '@celeriac/broker/coordination';
import {
  CeleriacError,
  DEFAULT_REVOKE_TTL_MS,
  ErrorCodes,
  createTaskMessage,
  encodeTaskMessage,
  optionChecks,
  optionTypes as t,
  parseIsoDate,
  redactUrl,
  systemClock,
  type Broker,
  type Clock,
  type Coordination,
  type Logger,
  type OptionChecks,
  type OptionType,
  type ResultBackend,
  type SerializerName,
  type SignatureJSON,
} from '@celeriac/core';
import { createResultBackend, type CreateResultBackendOptions } from '@celeriac/result-backend';
import { pino } from 'pino';
import { AsyncResult, type ResultSource, type RevokeTaskOptions } from './async-result.js';
import {
  parseRateLimit,
  type ApplyOptions,
  type Task,
  type TaskFunction,
  type TaskOptions,
  type UniqueOptions,
} from './task.js';
import { activeTaskContext } from './task-context.js';
import { Inspect, type InspectOptions, type Replies } from './inspect.js';

/**
 * Options of `new Celeriac()`. Every one has a default; env variables fill the URLs. Durations
 * are in seconds, as Celery's settings. An unknown key or a wrong type is refused with
 * `CELERIAC_ERR_INVALID_OPTION`, naming the key and the nearest valid spelling.
 */
export interface CeleriacOptions {
  /**
   * Broker URL (`memory://`, `redis://`, `rediss://`, `amqp://`, `amqps://`) or a `Broker`
   * instance.
   * @default `CELERIAC_BROKER_URL`, else `memory://`
   */
  broker?: string | Broker;
  /**
   * Result backend URL or instance; `false` stores no results.
   * @default `CELERIAC_RESULT_BACKEND`, else the broker's URL when it is memory, Redis or SQLite
   */
  backend?: string | ResultBackend | false;
  /** Queue for tasks with no queue of their own. @default 'celery' (Celery's default) */
  defaultQueue?: string;
  /** Serializer for task messages. @default 'json' */
  taskSerializer?: SerializerName;
  /** Seconds a stored result lives. @default 86400 (one day, as Celery) */
  resultExpires?: number;
  /** Task name (or `prefix.*` glob) → queue. */
  routes?: Record<string, string>;
  /**
   * Where a countdown/ETA task waits. `broker`: in the broker's delay store, nothing held
   * unacked: on Redis a sorted set whose due messages any live Celeriac worker moves to their
   * queue; on RabbitMQ the delay levels, which RabbitMQ itself moves on. `consumer`: published
   * to its queue at once with its `eta` header, as Celery does; the consuming worker holds it
   * until due. On Redis, use `consumer` for queues that only Python Celery workers consume,
   * since they do not move Celeriac's delayed messages.
   * @default 'broker'
   */
  delayedDelivery?: 'broker' | 'consumer';
  /**
   * Store `name, args, kwargs, worker, retries, queue` with each result (Celery's
   * `result_extended`). @default false
   */
  resultExtended?: boolean;
  /**
   * Where revocations, rate limits and uniqueness claims are shared: a URL or instance.
   * @default the broker's URL when it is memory, SQLite or Redis, else the backend's when it is
   * SQLite or Redis, else per process (`memory://`)
   */
  coordination?: string | Coordination;
  /** A pino-shaped logger. @default pino at `CELERIAC_LOG_LEVEL` (info) */
  logger?: Logger;
  clock?: Clock;
  /**
   * Options of the broker driver the URL selects (`RedisBroker`'s for `redis://`, `AmqpBroker`'s
   * for `amqp://`, ...), checked by that driver when the broker is created: a key it does not
   * know is refused, never dropped. A Redis broker's `redisOptions` also serve the coordination
   * store when it shares the broker's URL.
   * @default {}
   */
  brokerOptions?: CreateBrokerOptions;
  /**
   * Options of the result backend the URL selects, checked by that backend when it is created.
   * @default {}
   */
  backendOptions?: CreateResultBackendOptions;
}

/** A task as the worker sees it. */
export interface RegisteredTask {
  readonly name: string;
  readonly fn: TaskFunction<unknown[], unknown>;
  readonly options: Readonly<TaskOptions>;
}

/** Options as compiled: defaults applied, validated, read-only. */
export interface CompiledCeleriacOptions {
  readonly brokerUrl: string | undefined;
  readonly backendUrl: string | false | undefined;
  readonly defaultQueue: string;
  readonly taskSerializer: SerializerName;
  readonly resultExpiresMs: number;
  readonly routes: Readonly<Record<string, string>>;
  readonly delayedDelivery: 'broker' | 'consumer';
  readonly resultExtended: boolean;
  readonly coordinationUrl: string | undefined;
}

function invalid(message: string): CeleriacError {
  return new CeleriacError(ErrorCodes.INVALID_OPTION, message);
}

/** Seconds >= 0, for durations checked outside an options object (`ttl` of a revoke). */
function seconds(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `${name} must be a number of seconds >= 0, got ${JSON.stringify(value)}`,
      {
        details: { option: name, value, expected: t.seconds.expected },
      },
    );
  }
  return value;
}

function toDate(value: Date | string, name: string, checks: OptionChecks): Date {
  const d = value instanceof Date ? value : parseIsoDate(value);
  if (!d || Number.isNaN(d.getTime()))
    throw checks.wrongType(name, value, 'a Date or an ISO-8601 string');
  return d;
}

function urlScheme(url: string): string {
  return url.slice(0, Math.max(0, url.indexOf('://'))).toLowerCase();
}

function coordinationUrl(
  given: CeleriacOptions['coordination'],
  brokerUrl: string | undefined,
  backendUrl: string | false | undefined,
): string | undefined {
  if (typeof given === 'string') return given;
  if (given) return undefined;
  const shared = ['memory', 'sqlite', 'redis', 'rediss'];
  if (brokerUrl && shared.includes(urlScheme(brokerUrl))) return brokerUrl;
  if (backendUrl && ['sqlite', 'redis', 'rediss'].includes(urlScheme(backendUrl)))
    return backendUrl;
  return 'memory://';
}

const serializerType = t.oneOf('json', 'msgpack');
const instance: OptionType = {
  expected: 'an instance',
  test: (v) => typeof v === 'object' && v !== null,
};
const routesType: OptionType = {
  expected: 'an object of task name (or prefix.* glob) to queue name',
  test: (v) =>
    t.object.test(v) && Object.values(v as object).every((q) => typeof q === 'string' && q !== ''),
};

const CELERIAC_SPEC = {
  broker: t.anyOf(t.nonEmptyString, { expected: 'a Broker', test: instance.test }),
  backend: t.anyOf(
    t.nonEmptyString,
    { expected: 'a ResultBackend', test: instance.test },
    t.oneOf(false),
  ),
  defaultQueue: t.nonEmptyString,
  taskSerializer: serializerType,
  resultExpires: t.seconds,
  routes: routesType,
  delayedDelivery: t.oneOf('broker', 'consumer'),
  resultExtended: t.boolean,
  coordination: t.anyOf(t.nonEmptyString, { expected: 'a Coordination', test: instance.test }),
  logger: t.object,
  clock: t.object,
  brokerOptions: t.object,
  backendOptions: t.object,
} as const satisfies { readonly [K in keyof Required<CeleriacOptions>]: OptionType };

const celeriacChecks = optionChecks('Celeriac');

export function compileCeleriacOptions(o: CeleriacOptions): CompiledCeleriacOptions {
  celeriacChecks.strict(o, CELERIAC_SPEC, { renamed: { resultExpiresMs: 'resultExpires' } });
  const env = process.env;
  const brokerUrl =
    typeof o.broker === 'string'
      ? o.broker
      : o.broker
        ? undefined
        : (env['CELERIAC_BROKER_URL'] ?? 'memory://');
  let backendUrl: string | false | undefined;
  if (o.backend === false) backendUrl = false;
  else if (typeof o.backend === 'string') backendUrl = o.backend;
  else if (o.backend) backendUrl = undefined;
  else if (env['CELERIAC_RESULT_BACKEND']) backendUrl = env['CELERIAC_RESULT_BACKEND'];
  else if (brokerUrl && ['memory', 'redis', 'rediss', 'sqlite'].includes(urlScheme(brokerUrl)))
    backendUrl = brokerUrl;
  else backendUrl = false;
  return Object.freeze({
    brokerUrl,
    backendUrl,
    defaultQueue: o.defaultQueue ?? 'celery',
    taskSerializer: o.taskSerializer ?? 'json',
    resultExpiresMs: (o.resultExpires ?? 86_400) * 1000,
    routes: Object.freeze({ ...o.routes }),
    delayedDelivery: o.delayedDelivery ?? 'broker',
    resultExtended: o.resultExtended === true,
    coordinationUrl: coordinationUrl(o.coordination, brokerUrl, backendUrl),
  });
}

const errorMatchers = t.arrayOf(
  t.anyOf(t.string, { expected: 'an error class', test: (v) => typeof v === 'function' }),
);

const TASK_SPEC = {
  queue: t.nonEmptyString,
  ignoreResult: t.boolean,
  serializer: serializerType,
  timeLimit: t.seconds,
  softTimeLimit: t.seconds,
  trackStarted: t.boolean,
  priority: t.range(0, 255, true),
  expires: t.anyOf(t.seconds, t.date),
  maxRetries: t.anyOf(t.nonNegativeInteger, {
    expected: 'null (retry forever)',
    test: (v) => v === null,
  }),
  defaultRetryDelay: t.seconds,
  autoretryFor: errorMatchers,
  dontAutoretryFor: errorMatchers,
  retryBackoff: t.anyOf(t.boolean, { expected: 'a factor in seconds > 0', test: t.positive.test }),
  retryBackoffMax: t.seconds,
  retryJitter: t.boolean,
  acksLate: t.boolean,
  rejectOnWorkerLost: t.boolean,
  rateLimit: {
    expected: "a rate like '10/s', '100/m' or '1000/h'",
    test: (v) => typeof v === 'string' && parseRateLimit(v) !== undefined,
  },
  rateLimitKey: t.function,
  unique: t.object,
} as const satisfies { readonly [K in keyof Required<TaskOptions>]: OptionType };

const UNIQUE_SPEC = {
  ttl: { expected: 'a number of seconds > 0', test: t.positive.test },
  key: t.function,
} as const satisfies { readonly [K in keyof Required<UniqueOptions>]: OptionType };

/** Validates a task's options once, when it is defined, so a typo fails at start-up, not mid-run. */
export function compileTaskOptions(name: string, o: TaskOptions): Readonly<TaskOptions> {
  const checks = optionChecks(`task "${name}"`);
  checks.strict(o, TASK_SPEC);
  if (o.unique !== undefined) {
    checks.strict(o.unique, UNIQUE_SPEC, { prefix: 'unique.' });
    if (o.unique.ttl === undefined)
      throw checks.invalid(
        'unique.ttl',
        'is required: the seconds the first publish holds the key',
      );
  }
  return Object.freeze({ ...o });
}

const APPLY_SPEC = {
  countdown: t.seconds,
  eta: t.anyOf(t.date, t.nonEmptyString),
  expires: t.anyOf(t.seconds, t.date, t.nonEmptyString),
  priority: t.range(0, 255, true),
  queue: t.nonEmptyString,
  taskId: t.nonEmptyString,
  headers: t.object,
  ignoreResult: t.boolean,
  serializer: serializerType,
  timeLimit: t.seconds,
  softTimeLimit: t.seconds,
  shadow: t.string,
  parentId: t.nonEmptyString,
  rootId: t.nonEmptyString,
} as const satisfies { readonly [K in keyof Required<ApplyOptions>]: OptionType };

const REVOKE_SPEC = {
  terminate: t.boolean,
  ttl: t.seconds,
} as const satisfies { readonly [K in keyof Required<RevokeTaskOptions>]: OptionType };

const revokeChecks = optionChecks('revoke()');

/** Broker options a coordination store on the broker's own URL takes as well. */
const SHARED_WITH_COORDINATION = ['redisOptions', 'busyTimeoutMs', 'pollIntervalMs'] as const;
const applyChecks = optionChecks('applyAsync');
const sendTaskChecks = optionChecks('sendTask');

/**
 * The Celeriac app: the registry of tasks, the broker and result-backend connections, and
 * the publisher. One per process is typical; the worker and beat load it from a module.
 *
 * @example
 * ```ts
 * import { Celeriac } from '@celeriac/client';
 *
 * export const app = new Celeriac({ broker: 'redis://localhost:6379' });
 * export const add = app.task('tasks.add', (a: number, b: number) => a + b);
 *
 * const sum = await add.delay(2, 3).get({ timeout: 10 }); // 5, once a worker runs
 * ```
 */
export class Celeriac implements ResultSource {
  #options: CompiledCeleriacOptions;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly #tasks = new Map<string, RegisteredTask>();
  #raw: CeleriacOptions;
  #broker: Promise<Broker> | undefined;
  #backend: Promise<ResultBackend> | undefined;
  #coordination: Promise<Coordination> | undefined;
  /** The rpc backend's reply queue ('' when results are not delivered to this client). */
  #replyTo: string | undefined;
  #ownsCoordination = false;
  #ownsBroker = false;
  #ownsBackend = false;
  #closed = false;
  /** Set by `close()`: no new publishes; the ones in flight still finish. */
  #closing = false;
  #closingDone: Promise<void> | undefined;
  /** Publishes not yet settled, so `close()` can wait for them before closing connections. */
  readonly #publishing = new Set<Promise<unknown>>();
  readonly #declared = new Set<string>();

  constructor(options: CeleriacOptions = {}) {
    this.#raw = options;
    this.#options = compileCeleriacOptions(options);
    this.logger = options.logger ?? pino({ level: process.env['CELERIAC_LOG_LEVEL'] ?? 'info' });
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Defines a task. The function's parameter types become the task's argument types, so
   * `add.delay(1, '2')` does not compile when `add` takes two numbers.
   */
  task<
    TArgs extends unknown[],
    TResult,
    TKwargs extends Record<string, unknown> = Record<string, unknown>,
  >(
    name: string,
    fn: TaskFunction<TArgs, TResult, TKwargs>,
    options: TaskOptions = {},
  ): Task<TArgs, Awaited<TResult>, TKwargs> {
    if (typeof name !== 'string' || name === '')
      throw invalid('task(): name must be a non-empty string');
    if (typeof fn !== 'function')
      throw invalid(`task("${name}"): the second argument must be a function`);
    const existing = this.#tasks.get(name);
    if (existing && existing.fn !== fn) {
      throw new CeleriacError(
        ErrorCodes.DUPLICATE_TASK,
        `a task named "${name}" is already registered with another function: give each task a unique name`,
      );
    }
    const frozen = compileTaskOptions(name, options);
    this.#tasks.set(name, { name, fn: fn as TaskFunction<unknown[], unknown>, options: frozen });
    return {
      name,
      options: frozen,
      // The function may return TResult or a promise of it; callers see the awaited type.
      fn: fn as TaskFunction<TArgs, Awaited<TResult>, TKwargs>,
      delay: (...args: TArgs) => this.#send<Awaited<TResult>>(name, args, {}, {}, frozen),
      applyAsync: (args: TArgs, kwargs: Partial<TKwargs> = {}, applyOptions: ApplyOptions = {}) => {
        applyChecks.strict(applyOptions, APPLY_SPEC);
        return this.#send<Awaited<TResult>>(name, args, kwargs, applyOptions, frozen);
      },
    };
  }

  /** The options as compiled: defaults applied, validated, read-only. */
  get options(): CompiledCeleriacOptions {
    return this.#options;
  }

  /**
   * Points the app at another broker and/or result backend before it first connects: what
   * `celeriac worker --app ./app.js --broker redis://…` does to the app module's own URLs.
   * A backend that the app derived from its broker follows the new broker; one it named
   * explicitly stays unless `backend` is given too. Throws `CELERIAC_ERR_INVALID_OPTION` once
   * the app has connected (it would leave both connections in use).
   */
  overrideUrls(urls: { broker?: string | undefined; backend?: string | undefined }): void {
    this.#assertOpen();
    if (this.#broker || this.#backend || this.#coordination) {
      throw invalid(
        'overrideUrls() must be called before the app connects (before the first publish, result or worker start)',
      );
    }
    const raw: CeleriacOptions = { ...this.#raw };
    if (urls.broker !== undefined) raw.broker = urls.broker;
    if (urls.backend !== undefined) raw.backend = urls.backend;
    this.#options = compileCeleriacOptions(raw);
    this.#raw = raw;
  }

  /** The registered tasks, by name. */
  get tasks(): ReadonlyMap<string, RegisteredTask> {
    return this.#tasks;
  }

  /** Publishes a task by name, for tasks defined elsewhere (in another service, or in Python). */
  sendTask<T = unknown>(
    name: string,
    args: readonly unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: ApplyOptions = {},
  ): AsyncResult<T> {
    sendTaskChecks.strict(options, APPLY_SPEC);
    return this.#send<T>(
      name,
      args,
      kwargs,
      options,
      this.#tasks.get(name)?.options ?? {},
      null,
      sendTaskChecks,
    );
  }

  /** A handle on a task's result by id. */
  asyncResult<T = unknown>(id: string): AsyncResult<T> {
    return new AsyncResult<T>(id, this);
  }

  /** The broker, connected on first use. */
  broker(): Promise<Broker> {
    this.#assertOpen();
    this.#broker ??= this.#createBroker();
    return this.#broker;
  }

  /** The result backend, connected on first use. */
  resultBackend(): Promise<ResultBackend> {
    this.#assertOpen();
    this.#backend ??= this.#createBackend();
    return this.#backend;
  }

  /** The coordination store (revocations, rate limits, uniqueness), connected on first use. */
  coordination(): Promise<Coordination> {
    this.#assertOpen();
    this.#coordination ??= (async () => {
      const given = this.#raw.coordination;
      if (given && typeof given === 'object') return given;
      this.#ownsCoordination = true;
      const url = this.options.coordinationUrl ?? 'memory://';
      const { brokerUrl } = this.options;
      if (
        given === undefined &&
        urlScheme(url) === 'memory' &&
        brokerUrl !== undefined &&
        urlScheme(brokerUrl) !== 'memory'
      ) {
        this.logger.warn(
          { broker: redactUrl(brokerUrl) },
          "revocations, rate limits and unique tasks are kept in this process only: neither the broker nor the result backend is SQLite or Redis. Set the app option coordination: 'redis://…' (or 'sqlite://./celeriac.db' for workers on one host) to share them across workers",
        );
      }
      // A coordination store on the broker's URL shares its connection settings (Redis's
      // redisOptions, SQLite's busyTimeoutMs and pollIntervalMs), and nothing else of its options.
      const shared: Record<string, unknown> = {};
      const broker = this.#raw.brokerOptions as Readonly<Record<string, unknown>> | undefined;
      if (url === brokerUrl && broker) {
        for (const key of SHARED_WITH_COORDINATION)
          if (broker[key] !== undefined) shared[key] = broker[key];
      }
      return createCoordination(url, { logger: this.logger, clock: this.clock, ...shared });
    })();
    return this.#coordination;
  }

  /** Remote control, as Celery's `app.control`. */
  readonly control = {
    /**
     * Revokes tasks by id: no worker starts them (workers started later know too), and with
     * `terminate` a worker running one stops it. REVOKED is stored when a worker meets it.
     */
    revoke: (ids: string | readonly string[], options: RevokeTaskOptions = {}): Promise<void> =>
      this.revokeTasks(typeof ids === 'string' ? [ids] : ids, options),
    /**
     * Asks the running workers, Python Celery's and Celeriac's, what they are doing, as Celery's
     * `app.control.inspect()`: `ping()`, `registered()`, `active()`, `stats()`, each resolving
     * to replies by worker name after `timeout` seconds (Redis and RabbitMQ brokers).
     */
    inspect: (options: InspectOptions = {}): Inspect => new Inspect(() => this.broker(), options),
    /** `{ok: 'pong'}` from each worker that answers within `timeout` seconds. */
    ping: (options: InspectOptions = {}): Promise<Replies<{ ok: string }>> =>
      new Inspect(() => this.broker(), options).ping(),
  };

  /** See `control.revoke`. */
  async revokeTasks(ids: readonly string[], options: RevokeTaskOptions = {}): Promise<void> {
    revokeChecks.strict(options, REVOKE_SPEC);
    const ttl = options.ttl ?? DEFAULT_REVOKE_TTL_MS / 1000;
    await (
      await this.coordination()
    ).revoke(ids, { ttlMs: seconds(ttl, 'ttl') * 1000, terminate: options.terminate === true });
  }

  /** True when the app stores results. */
  get hasResultBackend(): boolean {
    return (
      this.options.backendUrl !== false ||
      (typeof this.#raw.backend === 'object' && this.#raw.backend !== null)
    );
  }

  /** The queue a task goes to, by its options, the routes, and the default. */
  queueFor(name: string, options: { queue?: string | undefined } = {}): string {
    if (options.queue) return options.queue;
    const routes = this.options.routes;
    const exact = routes[name];
    if (exact) return exact;
    for (const [pattern, queue] of Object.entries(routes)) {
      if (pattern.endsWith('*') && name.startsWith(pattern.slice(0, -1))) return queue;
    }
    return this.options.defaultQueue;
  }

  /** Makes sure a queue exists on the broker (once per app and queue). */
  async declareQueue(queue: string): Promise<void> {
    if (this.#declared.has(queue)) return;
    await (await this.broker()).declareQueue(queue);
    this.#declared.add(queue);
  }

  /**
   * Publishes a signature as it travels in a message (callbacks, chains), with the parent's
   * result prepended to its args unless it is immutable. Used by the worker.
   */
  sendSignature(
    sig: SignatureJSON,
    extra: {
      parentResult?: unknown;
      parentId?: string;
      rootId?: string;
      chain?: SignatureJSON[] | null;
    } = {},
  ): AsyncResult {
    const opts = sig.options;
    const args =
      'parentResult' in extra && !sig.immutable ? [extra.parentResult, ...sig.args] : sig.args;
    const apply: ApplyOptions = {};
    if (typeof opts['task_id'] === 'string') apply.taskId = opts['task_id'];
    if (typeof opts['queue'] === 'string') apply.queue = opts['queue'];
    if (typeof opts['priority'] === 'number') apply.priority = opts['priority'];
    if (typeof opts['countdown'] === 'number') apply.countdown = opts['countdown'];
    if (extra.parentId) apply.parentId = extra.parentId;
    if (extra.rootId) apply.rootId = extra.rootId;
    return this.#send(
      sig.task,
      args,
      sig.kwargs,
      apply,
      this.#tasks.get(sig.task)?.options ?? {},
      extra.chain ?? null,
    );
  }

  /**
   * Closes the broker and backend this app created, once the publishes already under way
   * have settled (so `add.delay(2, 3)` followed by `await app.close()` still sends the task).
   * Sending after `close()` was called throws `CELERIAC_ERR_CLOSED`. Idempotent.
   */
  close(): Promise<void> {
    this.#closingDone ??= this.#close();
    return this.#closingDone;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    while (this.#publishing.size > 0) await Promise.allSettled([...this.#publishing]);
    this.#closed = true;
    const closing: Promise<void>[] = [];
    if (this.#broker && this.#ownsBroker)
      closing.push(
        this.#broker.then(
          (b) => b.close(),
          () => undefined,
        ),
      );
    if (this.#backend && this.#ownsBackend)
      closing.push(
        this.#backend.then(
          (b) => b.close(),
          () => undefined,
        ),
      );
    if (this.#coordination && this.#ownsCoordination)
      closing.push(
        this.#coordination.then(
          (c) => c.close(),
          () => undefined,
        ),
      );
    await Promise.all(closing);
  }

  #assertOpen(): void {
    if (this.#closed) throw new CeleriacError(ErrorCodes.CLOSED, 'this Celeriac app was closed');
  }

  async #createBroker(): Promise<Broker> {
    const given = this.#raw.broker;
    if (given && typeof given === 'object') return given;
    this.#ownsBroker = true;
    return createBroker(this.options.brokerUrl ?? 'memory://', {
      logger: this.logger,
      clock: this.clock,
      ...this.#raw.brokerOptions,
    });
  }

  async #createBackend(): Promise<ResultBackend> {
    const given = this.#raw.backend;
    if (given && typeof given === 'object') return given;
    const url = this.options.backendUrl;
    if (url === false || url === undefined) {
      throw new CeleriacError(
        ErrorCodes.NO_RESULT_BACKEND,
        'this app has no result backend: pass `backend` (for example "redis://localhost:6379") to new Celeriac() or set CELERIAC_RESULT_BACKEND',
      );
    }
    this.#ownsBackend = true;
    return createResultBackend(url, {
      ...(this.options.brokerUrl ? { brokerUrl: this.options.brokerUrl } : {}),
      logger: this.logger,
      clock: this.clock,
      resultExpiresMs: this.options.resultExpiresMs,
      ...this.#raw.backendOptions,
    });
  }

  #send<T>(
    name: string,
    args: readonly unknown[],
    kwargs: Record<string, unknown>,
    options: ApplyOptions,
    defaults: Readonly<TaskOptions>,
    chain: SignatureJSON[] | null = null,
    checks: OptionChecks = applyChecks,
  ): AsyncResult<T> {
    this.#assertOpen();
    if (this.#closing)
      throw new CeleriacError(
        ErrorCodes.CLOSED,
        `cannot send "${name}": this Celeriac app is closing (close() was called)`,
      );
    if (!Array.isArray(args)) throw invalid(`"${name}": args must be an array`);
    if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
      throw invalid(`"${name}": kwargs must be a plain object`);
    }
    if (options.countdown !== undefined && options.eta !== undefined) {
      throw checks.invalid(
        'countdown',
        `was given with eta for "${name}": pass countdown or eta, not both`,
        { value: options.countdown },
      );
    }
    const now = this.clock.now();
    let eta: Date | null = null;
    if (options.countdown !== undefined) eta = new Date(now + options.countdown * 1000);
    else if (options.eta !== undefined) eta = toDate(options.eta, 'eta', checks);
    const expiresOpt = options.expires ?? defaults.expires;
    let expires: Date | null = null;
    if (typeof expiresOpt === 'number') expires = new Date(now + expiresOpt * 1000);
    else if (expiresOpt !== undefined) expires = toDate(expiresOpt, 'expires', checks);
    const priority = options.priority ?? defaults.priority;
    const timeLimit = options.timeLimit ?? defaults.timeLimit;
    const softTimeLimit = options.softTimeLimit ?? defaults.softTimeLimit;
    const parent = activeTaskContext();
    const id = options.taskId ?? randomUUID();
    const ignoreResult = options.ignoreResult ?? defaults.ignoreResult ?? false;
    const message = createTaskMessage({
      name,
      id,
      args,
      kwargs,
      eta,
      expires,
      ...(timeLimit === undefined ? {} : { timeLimit }),
      ...(softTimeLimit === undefined ? {} : { softTimeLimit }),
      rootId: options.rootId ?? parent?.rootId ?? parent?.id ?? null,
      parentId: options.parentId ?? parent?.id ?? null,
      ...(options.shadow === undefined ? {} : { shadow: options.shadow }),
      ignoreResult,
      ...(priority === undefined ? {} : { priority }),
      ...(options.headers ? { headers: options.headers } : {}),
      chain,
    });
    const wire = encodeTaskMessage(
      message,
      options.serializer ?? defaults.serializer ?? this.options.taskSerializer,
    );
    const queue = this.queueFor(name, { queue: options.queue ?? defaults.queue });
    const unique = defaults.unique;
    const published: Promise<string | void> = unique
      ? this.#publishUnique(unique, name, args, kwargs, id, () =>
          this.#publish(queue, wire, eta, name, id),
        )
      : this.#publish(queue, wire, eta, name, id);
    this.#publishing.add(published);
    const settled = (): void => void this.#publishing.delete(published);
    published.then(settled, settled);
    // A failed publish rejects `published` and `get()`; it is also logged so it is never silent.
    published.catch((err: unknown) => {
      this.logger.error({ err, task: name, taskId: id, queue }, 'publishing a task failed');
    });
    return new AsyncResult<T>(id, this, { name, published });
  }

  /** Claims the task's uniqueness key, then publishes; if another task holds it, follows that one. */
  async #publishUnique(
    unique: NonNullable<TaskOptions['unique']>,
    name: string,
    args: readonly unknown[],
    kwargs: Record<string, unknown>,
    id: string,
    publish: () => Promise<void>,
  ): Promise<string | void> {
    const key = `${name}:${unique.key ? unique.key(args, kwargs) : JSON.stringify([args, kwargs])}`;
    const holder = await (await this.coordination()).claimUnique(key, id, unique.ttl * 1000);
    if (holder !== null) return holder;
    await publish();
  }

  /** The reply queue an rpc result backend wants on published tasks, declared once. */
  async #resolveReplyTo(): Promise<string> {
    if (!this.hasResultBackend) return '';
    const backend = await this.resultBackend();
    if (backend.replyTo === undefined) return '';
    await backend.declareReplyQueue?.();
    return backend.replyTo;
  }

  async #publish(
    queue: string,
    wire: ReturnType<typeof encodeTaskMessage>,
    eta: Date | null,
    name: string,
    id: string,
  ): Promise<void> {
    try {
      await this.declareQueue(queue);
      const broker = await this.broker();
      if (this.#replyTo === undefined) this.#replyTo = await this.#resolveReplyTo();
      if (this.#replyTo && wire.headers['ignore_result'] !== true)
        wire.properties.reply_to = this.#replyTo;
      const deliverAt =
        eta && this.options.delayedDelivery === 'broker' && eta.getTime() > this.clock.now()
          ? eta.getTime()
          : undefined;
      await broker.publish(queue, wire, deliverAt === undefined ? {} : { deliverAt });
    } catch (err) {
      if (err instanceof CeleriacError && err.code !== ErrorCodes.BROKER_UNAVAILABLE) throw err;
      throw new CeleriacError(
        ErrorCodes.PUBLISH_FAILED,
        `publishing task "${name}" (${id}) to queue "${queue}" failed: ${(err as Error).message}`,
        {
          cause: err,
          details: { task: name, taskId: id, queue },
        },
      );
    }
  }
}
