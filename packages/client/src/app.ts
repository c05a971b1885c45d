import { Signature, type CanvasResult, type SignatureOptions } from './canvas/signature.js';
import { sendCanvas } from './canvas/dispatch.js';
import { taskCanvas } from './canvas/map.js';
import {
  CeleriacError,
  ErrorCodes,
  systemClock,
  type Broker,
  type Clock,
  type Coordination,
  type Logger,
  type ResultBackend,
  type SignatureJSON,
} from '@celeriac/core';
import {
  optionChecks,
  optionTypes as t,
  type OptionChecks,
  DEFAULT_REVOKE_TTL_MS,
} from '@celeriac/core/internal';
import type { encodeTaskMessage } from '@celeriac/core';
import { pino } from 'pino';
import { AsyncResult, type ResultSource, type RevokeTaskOptions } from './async-result.js';
import type { ApplyOptions, Task, TaskFunction, TaskOptions } from './task.js';
import { Inspect, broadcastCommand, type InspectOptions, type Replies } from './inspect.js';
import {
  compileCeleriacOptions,
  type CeleriacOptions,
  type CompiledCeleriacOptions,
  delaysInBroker,
} from './celeriac-options.js';
import { APPLY_SPEC, compileTaskOptions, REVOKE_SPEC } from './task-options.js';
import { AppConnections } from './app-connections.js';
import { sendTaskSentEvent } from './events/sent.js';
import { resolveReplyTo } from './reply-to.js';
import { readTaskOutcomes, type TaskOutcome } from './run-outcomes.js';
import { publishTraced } from './tracing/producer.js';
import {
  buildTaskWire,
  invalid,
  signatureSend,
  type SignatureSendExtra,
  type WireEmbed,
} from './task-message.js';

/** A task as the worker sees it. */
export interface RegisteredTask {
  readonly name: string;
  readonly fn: TaskFunction<unknown[], unknown>;
  readonly options: Readonly<TaskOptions>;
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

const revokeChecks = optionChecks('revoke()');

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
  readonly #connections: AppConnections;
  /** The rpc backend's reply queue ('' when results are not delivered to this client). */
  #replyTo: string | undefined;
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
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the connections read the current options
    const app = this;
    this.#connections = new AppConnections({
      get raw() {
        return app.#raw;
      },
      get options() {
        return app.#options;
      },
      logger: this.logger,
      clock: this.clock,
    });
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
      ...taskCanvas<TArgs, Awaited<TResult>, TKwargs>(this, name),
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
   * explicitly stays unless `backend` is given too. Throws `CELERIAC_ERR_INVALID_STATE` once
   * the app has connected (it would leave both connections in use).
   */
  overrideUrls(urls: { broker?: string | undefined; backend?: string | undefined }): void {
    this.#assertOpen();
    if (this.#connections.connected) {
      throw new CeleriacError(
        ErrorCodes.INVALID_STATE,
        'overrideUrls() must be called before the app connects (before the first publish, result or worker start)',
        { details: { state: 'connected' } },
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
    return this.#connections.broker.get();
  }

  /** The result backend, connected on first use. */
  resultBackend(): Promise<ResultBackend> {
    this.#assertOpen();
    return this.#connections.backend.get();
  }

  /** The coordination store (revocations, rate limits, uniqueness), connected on first use. */
  coordination(): Promise<Coordination> {
    this.#assertOpen();
    return this.#connections.coordination.get();
  }

  /** Remote control, as Celery's `app.control`. */
  readonly control = {
    /**
     * Revokes tasks by id: no worker starts them (workers started later know too), and with
     * `terminate` a worker running one stops it. REVOKED is stored when a worker meets it.
     * On a Redis or RabbitMQ broker it is also broadcast as Celery's `revoke` control command,
     * so Python Celery workers running now honour it too (they forget it on restart).
     */
    revoke: (ids: string | readonly string[], options: RevokeTaskOptions = {}): Promise<void> =>
      this.revokeTasks(typeof ids === 'string' ? [ids] : ids, options),
    /**
     * Asks the running workers, Python Celery's and Celeriac's, what they are doing, as Celery's
     * `app.control.inspect()`: `ping()`, `registered()`, `active()`, `stats()`, each resolving
     * to replies by worker name after `timeout` seconds (Redis and RabbitMQ brokers).
     */
    inspect: (options: InspectOptions = {}): Inspect =>
      new Inspect(() => this.broker(), options, this.options.taskSerializer),
    /** `{ok: 'pong'}` from each worker that answers within `timeout` seconds. */
    ping: (options: InspectOptions = {}): Promise<Replies<{ ok: string }>> =>
      new Inspect(() => this.broker(), options, this.options.taskSerializer).ping(),
  };

  /** See `control.revoke`. */
  async revokeTasks(ids: readonly string[], options: RevokeTaskOptions = {}): Promise<void> {
    revokeChecks.strict(options, REVOKE_SPEC);
    const ttl = options.ttl ?? DEFAULT_REVOKE_TTL_MS / 1000;
    const terminate = options.terminate === true;
    await (await this.coordination()).revoke(ids, { ttlMs: seconds(ttl, 'ttl') * 1000, terminate });
    // What `celery control revoke` sends, a cast: Python workers keep it in their revoked set.
    const broker = await this.broker();
    if (broker.control) {
      const args = { task_id: [...ids], terminate, signal: 'SIGTERM' };
      await broadcastCommand(broker, 'revoke', args, {
        reply: false,
        serializer: this.options.taskSerializer,
      });
    }
  }

  /** What became of tasks, by id, in order (`TaskOutcome`; beat's maxInstances uses it). */
  runOutcomes(taskIds: readonly string[]): Promise<TaskOutcome[]> {
    return readTaskOutcomes(this.hasResultBackend, () => this.resultBackend(), taskIds);
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

  /** A signature of a task known by name, maybe defined elsewhere (Celery's `app.signature`). */
  signature<T = unknown>(
    name: string,
    args: readonly unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: SignatureOptions = {},
  ): Signature<T> {
    return new Signature<T>(this, name, args, kwargs, options);
  }

  /**
   * Publishes any of Celery's signature dicts (chain steps, callbacks, chord bodies: a task,
   * or a chain, group, chord, map or chunks via `sendCanvas`), the parent's result prepended
   * to its args unless it is immutable. Used by the worker.
   */
  sendSignature(sig: SignatureJSON, extra: SignatureSendExtra = {}): CanvasResult {
    if (sig.subtask_type) return sendCanvas(this, sig, extra);
    const { args, apply, embed } = signatureSend(sig, extra);
    const defaults = this.#tasks.get(sig.task)?.options ?? {};
    return this.#send(
      sig.task,
      args,
      sig.kwargs,
      apply,
      defaults,
      extra.chain ?? null,
      undefined,
      embed,
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
    await this.#connections.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new CeleriacError(ErrorCodes.CLOSED, 'this Celeriac app was closed');
  }

  #send<T>(
    name: string,
    args: readonly unknown[],
    kwargs: Record<string, unknown>,
    options: ApplyOptions,
    defaults: Readonly<TaskOptions>,
    chain: SignatureJSON[] | null = null,
    checks: OptionChecks = applyChecks,
    embed?: WireEmbed,
  ): AsyncResult<T> {
    this.#assertOpen();
    if (this.#closing)
      throw new CeleriacError(
        ErrorCodes.CLOSED,
        `cannot send "${name}": this Celeriac app is closing (close() was called)`,
      );
    const { id, eta, wire } = buildTaskWire({
      name,
      args,
      kwargs,
      options,
      defaults,
      chain,
      checks,
      ...(embed ? { embed } : {}),
      now: this.clock.now(),
      taskSerializer: this.options.taskSerializer,
    });
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
    return new AsyncResult<T>(id, this, { name, published, redirects: Boolean(unique) });
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

  async #publish(
    queue: string,
    wire: ReturnType<typeof encodeTaskMessage>,
    eta: Date | null,
    name: string,
    id: string,
  ): Promise<void> {
    try {
      if (!this.#declared.has(queue)) await this.declareQueue(queue); // once per queue
      const broker = await this.broker();
      if (this.#replyTo === undefined) this.#replyTo = await resolveReplyTo(this);
      // A signature's own reply queue (a Python client's, on rpc://) wins over this app's.
      if (this.#replyTo && !wire.properties.reply_to && wire.headers['ignore_result'] !== true)
        wire.properties.reply_to = this.#replyTo;
      const held = eta && eta.getTime() > this.clock.now();
      const deliverAt = held && (await delaysInBroker(this.options, broker, queue));
      await publishTraced(broker, queue, wire, deliverAt ? { deliverAt: eta.getTime() } : {});
      if (this.options.taskSendSentEvent) await sendTaskSentEvent(this, broker, queue, wire);
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
