import { hostname as osHostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type {
  Celeriac,
  RegisteredTask,
  RetryOptions,
  TaskContext,
  TaskOptions,
} from '@celeriac/client';
import {
  MaxRetriesExceededError,
  NonRetryableError,
  Retry,
  SoftTimeLimitExceeded,
  TimeLimitExceeded,
  backoffSeconds,
  parseRateLimit,
  callTaskFunction,
  type AsyncContextMode,
  type RateLimit,
} from '@celeriac/client';
import {
  CeleriacError,
  ErrorCodes,
  MAX_REVOKED,
  DEFAULT_REVOKE_TTL_MS,
  buildResultDocument,
  decodeTaskMessage,
  encodeTaskMessage,
  exceptionToDocument,
  isCeleriacError,
  optionChecks,
  optionTypes as t,
  Slots,
  messageEta,
  messageExpires,
  serializerForContentType,
  toIsoWithOffset,
  tracebackOf,
  type Broker,
  type Clock,
  type Consumer,
  type Coordination,
  type Revocation,
  type RevocationWatch,
  type Delivery,
  type LogFn,
  type Logger,
  type OptionType,
  type ResultBackend,
  type StoreOptions,
  type TaskMessage,
  type TaskState,
} from '@celeriac/core';
import { ChildPool } from './pools/child-pool.js';
import { RemoteControl, type ActiveTaskInfo, type ControlledWorker } from './remote-control.js';
import { compilePoolOptions, type PoolOptions } from './pools/pool-options.js';

/**
 * Options of `new Worker(app, options)`; the pool options (`pool`, `appModule`, ...) are in
 * `PoolOptions`. Durations are in seconds, as Celery's. An unknown key or a wrong type is
 * refused with `CELERIAC_ERR_INVALID_OPTION`, naming the key and the nearest valid spelling.
 */
export interface WorkerOptions extends PoolOptions {
  /** Queues to consume. @default [app's `defaultQueue`] */
  queues?: readonly string[];
  /** Tasks run at once (the async pool runs them concurrently in the event loop). @default 10 */
  concurrency?: number;
  /**
   * Messages held at once, running or waiting for a slot. More than `concurrency` hides broker
   * latency; every held message is redelivered elsewhere if this worker dies.
   * @default concurrency × 4 (Celery's `worker_prefetch_multiplier`)
   */
  prefetch?: number;
  /** Node name, shown in results, events and logs. @default `celeriac@<host>` */
  hostname?: string;
  /** Seconds `shutdown()` waits for running tasks before requeueing them. @default 30 */
  shutdownTimeout?: number;
  /** @default the app's logger */
  logger?: Logger;
  /** @default the app's clock */
  clock?: Clock;
  /** Source of randomness for retry jitter, in [0, 1). @default Math.random */
  random?: () => number;
  /**
   * How a task's context reaches `currentTask()`, and the parent and root ids of tasks
   * published from inside it. `true`: an AsyncLocalStorage context for every run, followed
   * across every await and callback. `'auto'`: the same for functions declared `async`; a
   * plain function has its context during its synchronous call only (a plain function that
   * returns a promise chain and publishes from its callbacks should be declared `async`, or
   * use `true`). `false`: during the synchronous call only. AsyncLocalStorage turns on Node's
   * promise hooks for the whole process, so `'auto'` spares a worker of plain functions that
   * cost. `this` in a `function` task is the context in every mode. See `AsyncContextMode`.
   * @default 'auto'
   */
  asyncContext?: AsyncContextMode;
  /**
   * Answer Celery's remote control on transports that have it (Redis, RabbitMQ): `celery inspect
   * ping|active|registered|stats` and `app.control.ping()` see this worker, and
   * `app.control.revoke()` from Python reaches it. @default true
   */
  remoteControl?: boolean;
}

export type WorkerState = 'idle' | 'starting' | 'running' | 'draining' | 'stopped';

const WORKER_SPEC = {
  queues: t.arrayOf(t.nonEmptyString),
  concurrency: t.positiveInteger,
  prefetch: t.positiveInteger,
  hostname: t.nonEmptyString,
  shutdownTimeout: t.seconds,
  logger: t.object,
  clock: t.object,
  random: t.function,
  asyncContext: t.anyOf(t.boolean, t.oneOf('auto')),
  remoteControl: t.boolean,
  pool: t.oneOf('async', 'threads', 'process'),
  appModule: t.nonEmptyString,
  maxTasksPerChild: t.positiveInteger,
  maxMemoryPerChild: t.positiveInteger,
} as const satisfies { readonly [K in keyof Required<WorkerOptions>]: OptionType };

const workerChecks = optionChecks('Worker');

interface Running {
  readonly delivery: Delivery;
  /** Its place in the worker's running set (`Slots`). */
  slot: number;
  /** Created on first use of the task's signal: most tasks never look at it. */
  controller: AbortController | undefined;
  readonly done: Promise<void>;
  abandoned: boolean;
  /** Acked before the run (acksLate: false); later stores must not ack again. */
  acked: boolean;
  /** The task id once decoded, for revocation with terminate. */
  taskId?: string;
  /** The message once its run started, and when (epoch ms), for `celery inspect active`. */
  msg: TaskMessage | undefined;
  startedAt: number;
  /** The run of the task function, once started: revocation with terminate ends it. */
  execution?: Execution | undefined;
  /** Waiting for a rate-limit slot: not counted as processed. */
  parked?: boolean;
}

type Outcome =
  | { readonly kind: 'workerLost'; readonly error: Error }
  | { readonly kind: 'returned'; readonly value: unknown }
  | { readonly kind: 'threw'; readonly error: unknown }
  | { readonly kind: 'timeLimit'; readonly seconds: number }
  | { readonly kind: 'revoked' };

type ErrorMatcher = NonNullable<TaskOptions['autoretryFor']>[number];

function matches(err: unknown, list: readonly ErrorMatcher[] | undefined): boolean {
  if (!list || list.length === 0) return false;
  const name = err instanceof Error ? err.name : undefined;
  const remoteType =
    typeof err === 'object' && err !== null ? (err as { type?: unknown }).type : undefined;
  return list.some((m) =>
    typeof m === 'string' ? m === name || m === remoteType : err instanceof m,
  );
}

/** Celery's document for a task name no worker has registered. */
function notRegisteredDocument(name: string): Record<string, unknown> {
  return { exc_type: 'NotRegistered', exc_message: [name], exc_module: 'celery.exceptions' };
}

/** Celery's document for a revoked or expired task. */
function revokedDocument(reason: string): Record<string, unknown> {
  return { exc_type: 'TaskRevokedError', exc_message: [reason], exc_module: 'celery.exceptions' };
}

/** Celery's document for a result that cannot be serialized. */
function encodeErrorDocument(message: string): Record<string, unknown> {
  return { exc_type: 'EncodeError', exc_message: [message], exc_module: 'kombu.exceptions' };
}

/**
 * A child logger created on first use: most tasks log nothing of their own. A class, not a
 * closure per level, because one is made for every task.
 */
class LazyChildLogger implements Logger {
  #child: Logger | undefined;
  readonly #base: Logger;
  readonly #bindings: Record<string, unknown>;
  constructor(base: Logger, bindings: Record<string, unknown>) {
    this.#base = base;
    this.#bindings = bindings;
  }
  #get(): Logger {
    return (this.#child ??= this.#base.child(this.#bindings));
  }
  trace: LogFn = (o: Record<string, unknown> | string, msg?: string) => this.#log('trace', o, msg);
  debug: LogFn = (o: Record<string, unknown> | string, msg?: string) => this.#log('debug', o, msg);
  info: LogFn = (o: Record<string, unknown> | string, msg?: string) => this.#log('info', o, msg);
  warn: LogFn = (o: Record<string, unknown> | string, msg?: string) => this.#log('warn', o, msg);
  error: LogFn = (o: Record<string, unknown> | string, msg?: string) => this.#log('error', o, msg);
  fatal: LogFn = (o: Record<string, unknown> | string, msg?: string) => this.#log('fatal', o, msg);
  child(more: Record<string, unknown>): Logger {
    return this.#get().child(more);
  }
  #log(
    level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal',
    o: Record<string, unknown> | string,
    msg?: string,
  ): void {
    if (this.#base.isLevelEnabled?.(level) === false) return;
    if (typeof o === 'string') this.#get()[level](o);
    else this.#get()[level](o, msg);
  }
}

function lazyChild(base: Logger, bindings: Record<string, unknown>): Logger {
  return new LazyChildLogger(base, bindings);
}

/** What a task context needs from its worker, shared by every context of one worker. */
interface ContextHost {
  readonly hostname: string;
  storeState(msg: TaskMessage, state: TaskState, meta: unknown, log: Logger): Promise<void>;
}

/** The `this` of a running task (and `currentTask()`): one object per run, methods on the prototype. */
class RunContext implements TaskContext {
  readonly id: string;
  readonly name: string;
  readonly args: readonly unknown[];
  readonly kwargs: Record<string, unknown>;
  readonly retries: number;
  readonly rootId: string | null;
  readonly parentId: string | null;
  readonly groupId: string | null;
  readonly headers: TaskMessage['headers'];
  readonly queue: string;
  readonly redelivered: boolean;
  readonly hostname: string;
  readonly logger: Logger;
  readonly #host: ContextHost;
  readonly #msg: TaskMessage;
  readonly #entry: Running;

  constructor(host: ContextHost, msg: TaskMessage, entry: Running, log: Logger) {
    const h = msg.headers;
    this.id = h.id;
    this.name = h.task;
    this.args = msg.args;
    this.kwargs = msg.kwargs;
    this.retries = h.retries;
    this.rootId = h.root_id;
    this.parentId = h.parent_id;
    this.groupId = h.group;
    this.headers = h;
    this.queue = entry.delivery.queue;
    this.redelivered = entry.delivery.redelivered;
    this.hostname = host.hostname;
    this.logger = log;
    this.#host = host;
    this.#msg = msg;
    this.#entry = entry;
  }
  get eta(): Date | null {
    return messageEta(this.headers);
  }
  get expires(): Date | null {
    return messageExpires(this.headers);
  }
  get signal(): AbortSignal {
    this.#entry.controller ??= new AbortController();
    return this.#entry.controller.signal;
  }
  updateState(state: TaskState, meta?: unknown): Promise<void> {
    return this.#host.storeState(this.#msg, state, meta ?? null, this.logger);
  }
  retry(options?: RetryOptions): never {
    throw new Retry(options);
  }
}

/**
 * One run of a task function: settled once, by whichever comes first of the task, its hard
 * time limit, or a revocation with terminate. A class rather than closures made per run:
 * closures kept on the running entry held each finished task's whole graph (message,
 * context, promise chain) long enough to be promoted: 2.6 MB survived each scavenge instead
 * of 0.8 MB, and peak RSS was about 20 MB higher, on a 20,000-task drain (`bench/gc-drain.js`).
 */
class Execution {
  readonly outcome: Promise<Outcome>;
  /** Kills a pool member running the task (threads and process pools). */
  readonly killer: AbortController | undefined;
  #resolve!: (outcome: Outcome) => void;
  #settled = false;
  #softTimer: NodeJS.Timeout | undefined;
  #hardTimer: NodeJS.Timeout | undefined;
  readonly #entry: Running;

  constructor(entry: Running, pooled: boolean, hard: number | null, soft: number | null) {
    this.#entry = entry;
    this.outcome = new Promise<Outcome>((resolve) => {
      this.#resolve = resolve;
    });
    this.killer = pooled ? new AbortController() : undefined;
    if (soft !== null && soft > 0) {
      this.#softTimer = setTimeout(
        () => entry.controller?.abort(new SoftTimeLimitExceeded(soft)),
        soft * 1000,
      );
    }
    if (hard !== null && hard > 0) {
      this.#hardTimer = setTimeout(() => {
        entry.controller?.abort(new TimeLimitExceeded(hard));
        this.finish({ kind: 'timeLimit', seconds: hard });
      }, hard * 1000);
    }
  }

  finish(outcome: Outcome): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#softTimer) clearTimeout(this.#softTimer);
    if (this.#hardTimer) clearTimeout(this.#hardTimer);
    this.#resolve(outcome);
  }

  /** Settles with what an async task's promise settles with. */
  settleWith(value: PromiseLike<unknown>): void {
    value.then(
      (v) => this.finish({ kind: 'returned', value: v }),
      (error: unknown) => this.finish({ kind: 'threw', error }),
    );
  }

  /** Revoked with terminate: ends the run now; the task's signal aborts and a pool member dies. */
  terminate(): void {
    // Settle first: aborting makes the run settle too, and the revocation must win.
    this.finish({ kind: 'revoked' });
    const reason = new CeleriacError(ErrorCodes.CLOSED, 'task revoked with terminate');
    this.#entry.controller?.abort(reason);
    this.killer?.abort(reason); // a pool member dies even if a soft limit already used the signal
  }
}

/** Widening of rate-limit slots, against late timers. */
const RATE_GUARD = 1.05;

/** Messages due this soon are held in memory rather than sent back to the broker's delay store. */
const HOLD_ETA_IN_MEMORY_MS = 1000;

/**
 * Consumes task messages, runs them with bounded concurrency and stores their results.
 *
 * Delivery is at-least-once: a message is acked only after its task finished and its result
 * (if any) was stored, in one round trip when broker and backend share a Redis. If the worker
 * dies, the broker redelivers what it held. Bad input never stops the worker: a malformed
 * message or an unknown task goes to the queue's dead letters with the reason.
 *
 * @example
 * ```ts
 * const worker = new Worker(app, { concurrency: 50 });
 * await worker.start();
 * process.once('SIGTERM', () => void worker.shutdown());
 * ```
 */
export class Worker {
  readonly app: Celeriac;
  readonly hostname: string;
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly prefetch: number;
  readonly shutdownTimeoutMs: number;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly #random: () => number;
  readonly #asyncContext: AsyncContextMode;
  /** Shared by every task context of this worker (no closures per task). */
  readonly #contextHost: ContextHost;
  /** The threads or process pool; undefined for the async pool (tasks run in this event loop). */
  readonly #pool: ChildPool | undefined;
  #state: WorkerState = 'idle';
  #broker: Broker | undefined;
  #backend: ResultBackend | undefined;
  #consumer: Consumer | undefined;
  readonly #waiting: Delivery[] = [];
  /** Decoded messages whose rate-limit slot has come: they start before new deliveries. */
  readonly #ready: { delivery: Delivery; msg: TaskMessage; task: RegisteredTask }[] = [];
  /** Deliveries waiting for a rate-limit slot, held by a timer (no concurrency slot). */
  readonly #parked = new Set<Delivery>();
  readonly #revoked = new Map<string, Revocation>();
  #coordination: Coordination | undefined;
  #revocationWatch: RevocationWatch | undefined;
  readonly #rateLimits = new Map<string, RateLimit | null>();
  readonly #running = new Slots<Running>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopping: Promise<void> | undefined;
  #processed = 0;
  /** Runs started per task name (`celery inspect stats` → total). */
  readonly #totals = new Map<string, number>();
  readonly #remoteControlWanted: boolean;
  #remoteControl: RemoteControl | undefined;
  readonly #startedAt = Date.now();

  constructor(app: Celeriac, options: WorkerOptions = {}) {
    this.app = app;
    workerChecks.strict(options, WORKER_SPEC, {
      renamed: { shutdownTimeoutMs: 'shutdownTimeout' },
    });
    const concurrency = options.concurrency ?? 10;
    const prefetch = options.prefetch ?? concurrency * 4;
    if (prefetch < concurrency) {
      throw workerChecks.invalid(
        'prefetch',
        `must be at least concurrency (${concurrency}), got ${prefetch}`,
        {
          value: prefetch,
          expected: `an integer >= ${concurrency}`,
        },
      );
    }
    this.concurrency = concurrency;
    this.prefetch = prefetch;
    this.queues = Object.freeze([...(options.queues ?? [app.options.defaultQueue])]);
    if (this.queues.length === 0)
      throw workerChecks.invalid('queues', 'must name at least one queue', { value: [] });
    this.hostname = options.hostname ?? `celeriac@${osHostname()}`;
    this.shutdownTimeoutMs = (options.shutdownTimeout ?? 30) * 1000;
    this.logger = (options.logger ?? app.logger).child({ worker: this.hostname });
    this.clock = options.clock ?? app.clock;
    this.#random = options.random ?? Math.random;
    this.#asyncContext = options.asyncContext ?? 'auto';
    this.#remoteControlWanted = options.remoteControl ?? true;
    this.#contextHost = {
      hostname: this.hostname,
      storeState: (msg, state, meta, log) => this.#store(msg, state, meta, null, log),
    };
    const pool = compilePoolOptions(options);
    this.#pool = pool && new ChildPool(pool, { size: concurrency, logger: this.logger });
  }

  get state(): WorkerState {
    return this.#state;
  }

  /** Tasks finished (any outcome) since start. */
  get processed(): number {
    return this.#processed;
  }

  /** Connects, declares the queues and starts consuming. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') {
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `start(): the worker is ${this.#state}; create a new Worker to start again`,
      );
    }
    this.#state = 'starting';
    try {
      // Threads or children first: an app module they cannot load fails start() before any message is taken.
      await this.#pool?.start();
      this.#broker = await this.app.broker();
      if (this.app.hasResultBackend) this.#backend = await this.app.resultBackend();
      for (const q of this.queues) await this.app.declareQueue(q);
      this.#coordination = await this.app.coordination();
      this.#revocationWatch = await this.#coordination.watchRevocations((r) => this.#onRevoked(r));
      for (const r of this.#revocationWatch.current) this.#revoked.set(r.id, r);
      // Listening first: a worker that takes tasks can be inspected.
      if (this.#remoteControlWanted && this.#broker.control) {
        const remote = new RemoteControl(this.#broker.control, this.#controlled(), this.logger);
        try {
          await remote.start();
          this.#remoteControl = remote;
        } catch (err) {
          this.logger.warn({ err }, 'remote control is off: could not listen for it');
        }
      }
      this.#consumer = await this.#broker.consume({
        queues: this.queues,
        prefetch: this.prefetch,
        onMessage: (d) => this.#onMessage(d),
        onError: (err) => this.logger.warn({ err }, 'broker connection problem; retrying'),
      });
    } catch (err) {
      await this.#pool?.close();
      await this.#remoteControl?.stop().catch(() => undefined);
      this.#state = 'stopped';
      throw err;
    }
    this.#state = 'running';
    this.logger.info(
      {
        queues: this.queues,
        concurrency: this.concurrency,
        prefetch: this.prefetch,
        tasks: [...this.app.tasks.keys()],
      },
      `worker ${this.hostname} ready`,
    );
    // Deliveries that arrived while start() was still awaiting wait in #waiting: run them.
    this.#pump();
  }

  /**
   * Stops fetching, lets running tasks finish within `timeout` seconds (default
   * `shutdownTimeout`), and requeues everything not finished: waiting messages at once,
   * running ones when the timeout passes (their signal aborts). Idempotent.
   */
  shutdown(options: { timeout?: number } = {}): Promise<void> {
    this.#stopping ??= this.#shutdown(
      options.timeout === undefined ? this.shutdownTimeoutMs : options.timeout * 1000,
    );
    return this.#stopping;
  }

  async #shutdown(timeoutMs: number): Promise<void> {
    if (this.#state === 'idle') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'draining';
    this.logger.info(
      { running: this.#running.size, waiting: this.#waiting.length },
      'worker shutting down',
    );
    await this.#consumer
      ?.cancel()
      .catch((err: unknown) => this.logger.warn({ err }, 'cancelling the consumer failed'));
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await this.#requeueWaiting();
    if (this.#running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const outcome = await Promise.race([
        Promise.all(this.#running.values().map((r) => r.done)),
        timedOut,
      ]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        const left = this.#running.values();
        this.logger.warn(
          { tasks: left.length },
          'shutdown timeout: requeueing tasks still running',
        );
        await Promise.all(
          left.map(async (r) => {
            r.abandoned = true;
            r.controller?.abort(new CeleriacError(ErrorCodes.CLOSED, 'worker shutdown timeout'));
            await this.#settle(() => r.delivery.requeue(), 'requeue');
          }),
        );
      }
    }
    await this.#pool?.close(); // kills what still runs there: it was requeued above
    await this.#revocationWatch?.stop().catch(() => undefined);
    await this.#remoteControl?.stop().catch(() => undefined);
    this.#state = 'stopped';
    this.logger.info({ processed: this.#processed }, 'worker stopped');
  }

  /** Requeues at once, without waiting for running tasks (a second SIGTERM). */
  async abort(): Promise<void> {
    await this.#consumer?.cancel().catch(() => undefined);
    await this.#requeueWaiting();
    await Promise.all(
      this.#running.values().map(async (r) => {
        r.abandoned = true;
        r.controller?.abort(new CeleriacError(ErrorCodes.CLOSED, 'worker aborted'));
        await this.#settle(() => r.delivery.requeue(), 'requeue');
      }),
    );
    await this.#pool?.close();
    await this.#remoteControl?.stop().catch(() => undefined);
    this.#state = 'stopped';
  }

  /** What Celery's remote control sees of this worker. */
  #controlled(): ControlledWorker {
    return {
      hostname: this.hostname,
      registered: () => [...this.app.tasks.keys()].sort(),
      active: () =>
        this.#running.values().flatMap((e): ActiveTaskInfo[] => {
          const m = e.msg;
          if (!m) return [];
          const props = e.delivery.message.properties;
          return [
            {
              id: m.headers.id,
              name: m.headers.task,
              args: m.args,
              kwargs: m.kwargs,
              type: m.headers.task,
              hostname: this.hostname,
              time_start: e.startedAt / 1000,
              acknowledged: e.acked,
              delivery_info: {
                exchange: '',
                routing_key: e.delivery.queue,
                priority: typeof props.priority === 'number' ? props.priority : null,
                redelivered: e.delivery.redelivered,
              },
              worker_pid: process.pid,
            },
          ];
        }),
      stats: () => ({
        total: Object.fromEntries(this.#totals),
        pid: process.pid,
        uptime: Math.round((Date.now() - this.#startedAt) / 1000),
        pool: {
          'max-concurrency': this.concurrency,
          implementation: this.#pool ? this.#pool.kind : 'async',
          processes: [process.pid],
        },
        prefetch_count: this.prefetch,
        broker: { transport: this.#broker?.kind ?? 'unknown' },
        sw_ident: 'celeriac',
        sw_sys: process.platform,
        sw_ver: process.version,
      }),
      revoke: (ids, terminate) => {
        const expiresAt = Date.now() + DEFAULT_REVOKE_TTL_MS;
        for (const id of ids) this.#onRevoked({ id, terminate, expiresAt });
      },
    };
  }

  async #requeueWaiting(): Promise<void> {
    const waiting = [
      ...this.#waiting.splice(0),
      ...this.#ready.splice(0).map((r) => r.delivery),
      ...this.#parked,
    ];
    this.#parked.clear();
    await Promise.all(waiting.map((d) => this.#settle(() => d.requeue(), 'requeue')));
  }

  #onMessage(delivery: Delivery): void {
    if (this.#state === 'draining' || this.#state === 'stopped') {
      void this.#settle(() => delivery.requeue(), 'requeue');
      return;
    }
    this.#waiting.push(delivery);
    this.#pump();
  }

  #pump(): void {
    while (
      this.#running.size < this.concurrency &&
      (this.#ready.length > 0 || this.#waiting.length > 0) &&
      this.#state === 'running'
    ) {
      const approved = this.#ready.shift();
      const delivery = approved?.delivery ?? this.#waiting.shift();
      if (!delivery) break;
      const entry: Running = {
        delivery,
        slot: -1,
        controller: undefined,
        done: Promise.resolve(),
        abandoned: false,
        acked: false,
        msg: undefined,
        startedAt: 0,
      };
      this.#running.add(entry);
      (entry as { done: Promise<void> }).done = this.#drive(entry, approved);
    }
  }

  /** One message from a free slot to its end; never rejects. */
  async #drive(
    entry: Running,
    approved?: { msg: TaskMessage; task: RegisteredTask },
  ): Promise<void> {
    try {
      if (approved) await this.#startApproved(entry, approved.task, approved.msg);
      else await this.#process(entry);
    } catch (err) {
      this.logger.error({ err }, 'unexpected error while handling a message');
    } finally {
      this.#running.delete(entry);
      if (!entry.parked) this.#processed++;
      this.#pump();
    }
  }

  /** Settles a delivery, logging instead of throwing: a broker outage must not crash the worker. */
  async #settle(action: () => Promise<void>, what: string): Promise<void> {
    try {
      await action();
    } catch (err) {
      this.logger.error({ err }, `could not ${what} a message; the broker will redeliver it`);
    }
  }

  async #process(entry: Running): Promise<void> {
    const { delivery } = entry;
    let msg: TaskMessage;
    try {
      msg = decodeTaskMessage(delivery.message);
    } catch (err) {
      const code = isCeleriacError(err) ? err.code : ErrorCodes.MALFORMED_MESSAGE;
      const message = (err as Error).message;
      this.logger.error(
        { err, queue: delivery.queue, deliveryTag: delivery.deliveryTag },
        'malformed message sent to dead letters',
      );
      await this.#settle(() => delivery.deadLetter({ code, message }), 'dead-letter');
      return;
    }
    const { headers } = msg;
    const log = lazyChild(this.logger, { task: headers.task, taskId: headers.id });
    const task = this.app.tasks.get(headers.task);
    if (!task) {
      const message = `task "${headers.task}" is not registered on this worker: define it with app.task() in the module the worker loads, or route it to a queue only workers that know it consume`;
      log.error({ queue: delivery.queue }, message);
      if (!headers.ignore_result) {
        await this.#store(msg, 'FAILURE', notRegisteredDocument(headers.task), null, log);
      }
      await this.#settle(
        () => delivery.deadLetter({ code: ErrorCodes.UNKNOWN_TASK, message }),
        'dead-letter',
      );
      return;
    }

    const now = this.clock.now();
    const expires = messageExpires(headers);
    if (expires && expires.getTime() <= now) {
      log.warn({ expires: headers.expires }, 'task expired before it could run; marked REVOKED');
      if (!headers.ignore_result)
        await this.#store(msg, 'REVOKED', revokedDocument('expired'), null, log, delivery);
      else await this.#settle(() => delivery.ack(), 'ack');
      return;
    }
    const eta = messageEta(headers);
    if (eta && eta.getTime() > now) {
      await this.#defer(entry, msg, eta.getTime() - now, log);
      return;
    }

    log.debug(
      { args: headers.argsrepr, kwargs: headers.kwargsrepr },
      `Task ${headers.task}[${headers.id}] received`,
    );
    if (await this.#skipRevoked(entry, msg, log)) return;
    const limit = this.#rateLimitOf(task);
    if (limit) {
      const key = `${task.name}${task.options.rateLimitKey ? `:${task.options.rateLimitKey(msg.args, msg.kwargs)}` : ''}`;
      // Slots 5% wider than the limit: a timer that fires late (a busy event loop) would
      // otherwise squeeze one more start into some window than the limit allows.
      const waitMs = await this.#coordination?.reserveRateSlot(
        key,
        limit.count,
        limit.intervalMs * RATE_GUARD,
      );
      if (waitMs !== undefined && waitMs > 0) {
        this.#park(entry, task, msg, waitMs);
        return;
      }
    }
    await this.#run(entry, task, msg, log);
  }

  /** Runs a message whose rate-limit slot has come, unless it was revoked or expired meanwhile. */
  async #startApproved(entry: Running, task: RegisteredTask, msg: TaskMessage): Promise<void> {
    const log = lazyChild(this.logger, { task: msg.headers.task, taskId: msg.headers.id });
    const expires = messageExpires(msg.headers);
    if (expires && expires.getTime() <= this.clock.now()) {
      if (!msg.headers.ignore_result)
        await this.#store(msg, 'REVOKED', revokedDocument('expired'), null, log, entry.delivery);
      else await this.#settle(() => entry.delivery.ack(), 'ack');
      return;
    }
    if (await this.#skipRevoked(entry, msg, log)) return;
    await this.#run(entry, task, msg, log);
  }

  /**
   * Gives the concurrency slot back while a rate-limited task waits for its reserved slot; a
   * timer (not a poll) brings it back, ahead of new deliveries.
   */
  #park(entry: Running, task: RegisteredTask, msg: TaskMessage, waitMs: number): void {
    const { delivery } = entry;
    entry.parked = true;
    this.#parked.add(delivery);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#parked.delete(delivery)) return; // requeued by shutdown
      this.#ready.push({ delivery, msg, task });
      this.#pump();
    }, waitMs);
    this.#timers.add(timer);
  }

  #rateLimitOf(task: RegisteredTask): RateLimit | null {
    let limit = this.#rateLimits.get(task.name);
    if (limit === undefined) {
      limit = task.options.rateLimit ? (parseRateLimit(task.options.rateLimit) ?? null) : null;
      this.#rateLimits.set(task.name, limit);
    }
    return limit;
  }

  /** A revoked task is not run: REVOKED is stored (Celery's TaskRevokedError) and the message acked. */
  async #skipRevoked(entry: Running, msg: TaskMessage, log: Logger): Promise<boolean> {
    if (this.#revoked.size === 0 || !this.#isRevoked(msg.headers.id)) return false;
    log.info(`Task ${msg.headers.task}[${msg.headers.id}] revoked; not run`);
    if (!msg.headers.ignore_result)
      await this.#store(msg, 'REVOKED', revokedDocument('revoked'), null, log, entry.delivery);
    else await this.#settle(() => entry.delivery.ack(), 'ack');
    return true;
  }

  #isRevoked(id: string): boolean {
    const r = this.#revoked.get(id);
    if (!r) return false;
    if (r.expiresAt <= this.clock.now()) {
      this.#revoked.delete(id);
      return false;
    }
    return true;
  }

  #onRevoked(r: Revocation): void {
    this.#revoked.set(r.id, r);
    if (this.#revoked.size > MAX_REVOKED) {
      const oldest = this.#revoked.keys().next().value;
      if (oldest !== undefined) this.#revoked.delete(oldest);
    }
    if (r.terminate) this.#running.find((e) => e.taskId === r.id)?.execution?.terminate();
  }

  /**
   * A message that arrived before its ETA (a Python client publishes ETA tasks straight to the
   * queue): a near one is held for the remaining moment, a far one goes back to the broker's
   * delay store, so no slot and no unacked message waits for hours.
   */
  async #defer(entry: Running, msg: TaskMessage, waitMs: number, log: Logger): Promise<void> {
    const { delivery } = entry;
    if (waitMs > HOLD_ETA_IN_MEMORY_MS) {
      try {
        await this.#broker?.publish(delivery.queue, delivery.message, {
          deliverAt: this.clock.now() + waitMs,
        });
        await delivery.ack();
        log.debug({ eta: msg.headers.eta }, 'task moved to the broker delay store until its ETA');
      } catch (err) {
        log.error({ err }, 'could not defer an ETA task; requeueing it');
        await this.#settle(() => delivery.requeue(), 'requeue');
      }
      return;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        resolve();
      }, waitMs);
      this.#timers.add(t);
    });
    if (this.#state !== 'running') {
      await this.#settle(() => delivery.requeue(), 'requeue');
      return;
    }
    const task = this.app.tasks.get(msg.headers.task);
    if (task) await this.#startApproved(entry, task, msg);
  }

  async #run(entry: Running, task: RegisteredTask, msg: TaskMessage, log: Logger): Promise<void> {
    const { delivery } = entry;
    const { headers } = msg;
    const opts = task.options;
    const ignoreResult = headers.ignore_result || opts.ignoreResult === true;
    if (opts.acksLate === false) {
      // At-most-once: the message is gone before the task starts; a crash now loses it.
      await this.#settle(() => delivery.ack(), 'ack');
      entry.acked = true;
    }
    const ackAfter = (): Delivery | undefined => (entry.acked ? undefined : delivery);
    const ctx = new RunContext(this.#contextHost, msg, entry, log);
    if (opts.trackStarted && !ignoreResult) {
      await this.#store(msg, 'STARTED', { pid: process.pid, hostname: this.hostname }, null, log);
    }
    // A time limit in the message (a Python caller's `timelimit: [hard, soft]`) wins over the task's.
    const hard = headers.timelimit[0] ?? opts.timeLimit ?? null;
    const soft = headers.timelimit[1] ?? opts.softTimeLimit ?? null;
    const started = performance.now();
    entry.taskId = headers.id;
    entry.msg = msg;
    entry.startedAt = Date.now();
    this.#totals.set(task.name, (this.#totals.get(task.name) ?? 0) + 1);
    const outcome = await this.#execute(ctx, task, msg, entry, hard, soft);
    entry.execution = undefined;
    if (entry.abandoned) return; // shutdown requeued it; its outcome is not recorded

    switch (outcome.kind) {
      case 'returned': {
        // Bindings inline rather than a child logger per task: this line runs for every task.
        if (this.logger.isLevelEnabled?.('info') !== false) {
          const seconds = ((performance.now() - started) / 1000).toFixed(6);
          this.logger.info(
            { task: headers.task, taskId: headers.id },
            `Task ${headers.task}[${headers.id}] succeeded in ${seconds}s`,
          );
        }
        // Follow-ups are published before the ack: a crash now means a rerun, never a lost step.
        if (msg.embed.chain || msg.embed.callbacks) await this.#followUps(msg, outcome.value, log);
        await this.#finish(msg, ignoreResult, 'SUCCESS', outcome.value, null, log, ackAfter());
        return;
      }
      case 'revoked': {
        log.warn(`Task ${headers.task}[${headers.id}] revoked while running; terminated`);
        await this.#finish(
          msg,
          ignoreResult,
          'REVOKED',
          revokedDocument('terminated'),
          null,
          log,
          ackAfter(),
        );
        return;
      }
      case 'timeLimit': {
        const err = new TimeLimitExceeded(outcome.seconds);
        const fate = this.#pool
          ? `stopped (its ${this.#pool.kind === 'threads' ? 'thread' : 'child process'} was killed)`
          : 'abandoned (the async pool cannot stop running JavaScript)';
        log.error(
          `Task ${headers.task}[${headers.id}] exceeded its hard time limit of ${outcome.seconds}s; ${fate}`,
        );
        await this.#finish(
          msg,
          ignoreResult,
          'FAILURE',
          exceptionToDocument(err),
          null,
          log,
          ackAfter(),
        );
        return;
      }
      case 'workerLost': {
        // The pool logged the death. Celery's reject_on_worker_lost: requeue only what is not acked yet.
        if (opts.rejectOnWorkerLost === true && !entry.acked) {
          log.warn(
            `Task ${headers.task}[${headers.id}] lost its worker; requeued (rejectOnWorkerLost)`,
          );
          await this.#settle(() => delivery.requeue(), 'requeue');
          return;
        }
        await this.#finish(
          msg,
          ignoreResult,
          'FAILURE',
          exceptionToDocument(outcome.error),
          null,
          log,
          ackAfter(),
        );
        return;
      }
      case 'threw': {
        const error = outcome.error;
        const retry = this.#retryRequest(task, error);
        if (retry) {
          await this.#retry(entry, task, msg, retry, log, ignoreResult);
          return;
        }
        const seconds = ((performance.now() - started) / 1000).toFixed(6);
        log.warn(
          { err: error },
          `Task ${headers.task}[${headers.id}] raised an error after ${seconds}s`,
        );
        await this.#finish(
          msg,
          ignoreResult,
          'FAILURE',
          exceptionToDocument(error),
          tracebackOf(error),
          log,
          ackAfter(),
        );
        return;
      }
    }
  }

  /** Runs the task function under its time limits. The soft limit aborts the task's signal. */
  #execute(
    ctx: TaskContext,
    task: RegisteredTask,
    msg: TaskMessage,
    entry: Running,
    hard: number | null,
    soft: number | null,
  ): Promise<Outcome> {
    const run = new Execution(entry, this.#pool !== undefined, hard, soft);
    entry.execution = run;
    // In the threads and process pools the task runs there; its limits and signal work alike.
    if (this.#pool) {
      this.#pool
        .run({
          ctx,
          options: task.options,
          hard,
          ...(run.killer ? { kill: run.killer.signal } : {}),
        })
        .then(
          (outcome) => run.finish(outcome),
          (error: unknown) => run.finish({ kind: 'threw', error }),
        );
      return run.outcome;
    }
    let value: unknown;
    try {
      value = callTaskFunction(ctx, task.fn, msg.args, this.#asyncContext);
    } catch (error) {
      run.finish({ kind: 'threw', error });
      return run.outcome;
    }
    if (typeof (value as PromiseLike<unknown> | null)?.then === 'function') {
      run.settleWith(value as PromiseLike<unknown>);
    } else {
      run.finish({ kind: 'returned', value });
    }
    return run.outcome;
  }

  /** Stores the final state (acking with it), or only acks when results are ignored. */
  async #finish(
    msg: TaskMessage,
    ignoreResult: boolean,
    status: TaskState,
    result: unknown,
    traceback: string | null,
    log: Logger,
    ack: Delivery | undefined,
  ): Promise<void> {
    if (ignoreResult) {
      if (ack) await this.#settle(() => ack.ack(), 'ack');
      return;
    }
    await this.#store(msg, status, result, traceback, log, ack);
  }

  /** What to do with an error: a retry (explicit `ctx.retry()` or `autoretryFor`), or undefined. */
  #retryRequest(task: RegisteredTask, error: unknown): RetryOptions | undefined {
    if (error instanceof Retry) return error.options;
    const o = task.options;
    if (
      error instanceof NonRetryableError ||
      !matches(error, o.autoretryFor) ||
      matches(error, o.dontAutoretryFor)
    ) {
      return undefined;
    }
    return { exc: error };
  }

  /**
   * Celery's retry: the same task id goes back to the broker with `retries + 1` and an ETA,
   * RETRY is stored with the error, and this delivery is acked, in that order (a crash between
   * the steps means a rerun, never a lost task). Past `maxRetries`, FAILURE is stored instead.
   */
  async #retry(
    entry: Running,
    task: RegisteredTask,
    msg: TaskMessage,
    request: RetryOptions,
    log: Logger,
    ignoreResult: boolean,
  ): Promise<void> {
    const { headers } = msg;
    const o = task.options;
    const ack = entry.acked ? undefined : entry.delivery;
    const maxRetries =
      request.maxRetries !== undefined
        ? request.maxRetries
        : o.maxRetries === undefined
          ? 3
          : o.maxRetries;
    if (maxRetries !== null && headers.retries >= maxRetries) {
      const error =
        request.exc ??
        new MaxRetriesExceededError(
          `Can't retry ${headers.task}[${headers.id}] args:${headers.argsrepr ?? ''} kwargs:${headers.kwargsrepr ?? ''}`,
        );
      log.warn(
        { err: error, retries: headers.retries },
        `Task ${headers.task}[${headers.id}] ran out of retries (${String(maxRetries)})`,
      );
      await this.#finish(
        msg,
        ignoreResult,
        'FAILURE',
        exceptionToDocument(error),
        tracebackOf(error),
        log,
        ack,
      );
      return;
    }
    const now = this.clock.now();
    let delayMs: number;
    if (request.eta) delayMs = request.eta.getTime() - now;
    else if (request.countdown !== undefined) delayMs = request.countdown * 1000;
    else if (request.exc !== undefined && !(request.exc instanceof Retry) && o.retryBackoff) {
      const factor = o.retryBackoff === true ? 1 : o.retryBackoff;
      delayMs =
        1000 *
        backoffSeconds({
          factor,
          retries: headers.retries,
          maximum: o.retryBackoffMax ?? 600,
          fullJitter: o.retryJitter ?? true,
          random: this.#random,
        });
    } else delayMs = (o.defaultRetryDelay ?? 180) * 1000;
    const eta = new Date(now + Math.max(0, delayMs));
    const next: TaskMessage = {
      ...msg,
      headers: { ...headers, retries: headers.retries + 1, eta: toIsoWithOffset(eta) },
    };
    try {
      const wire = encodeTaskMessage(next, serializerForContentType(msg.contentType).name);
      await this.#broker?.publish(
        entry.delivery.queue,
        wire,
        delayMs > 0 ? { deliverAt: eta.getTime() } : {},
      );
    } catch (err) {
      log.error({ err }, 'could not publish the retry; requeueing the message instead');
      if (ack) await this.#settle(() => ack.requeue(), 'requeue');
      return;
    }
    const exc = request.exc ?? new Retry(request);
    log.info(
      { retries: headers.retries + 1, eta: toIsoWithOffset(eta) },
      `Task ${headers.task}[${headers.id}] retry scheduled`,
    );
    await this.#finish(
      msg,
      ignoreResult,
      'RETRY',
      exceptionToDocument(exc),
      tracebackOf(exc),
      log,
      ack,
    );
  }

  /** Celery's chain and callbacks: the next step gets this result prepended unless immutable. */
  async #followUps(msg: TaskMessage, value: unknown, log: Logger): Promise<void> {
    const { chain, callbacks } = msg.embed;
    const rootId = msg.headers.root_id ?? msg.headers.id;
    const sends: Promise<void>[] = [];
    if (chain && chain.length > 0) {
      const rest = chain.slice(0, -1);
      const next = chain[chain.length - 1];
      if (next) {
        sends.push(
          this.app.sendSignature(next, {
            parentResult: value,
            parentId: msg.headers.id,
            rootId,
            chain: rest,
          }).published,
        );
      }
    }
    for (const cb of callbacks ?? []) {
      sends.push(
        this.app.sendSignature(cb, { parentResult: value, parentId: msg.headers.id, rootId })
          .published,
      );
    }
    if (sends.length === 0) return;
    const results = await Promise.allSettled(sends);
    for (const r of results) {
      if (r.status === 'rejected')
        log.error({ err: r.reason as unknown }, 'publishing a chain step or callback failed');
    }
  }

  /**
   * Stores a state document, acking `ack` in the same round trip when the backend can. If the
   * result cannot be encoded, stores Celery's EncodeError instead. If storing fails, the
   * message is requeued: a result is never lost behind an ack.
   */
  async #store(
    msg: TaskMessage,
    status: TaskState,
    result: unknown,
    traceback: string | null,
    log: Logger,
    ack?: Delivery,
  ): Promise<void> {
    const backend = this.#backend;
    if (!backend) {
      if (ack) await this.#settle(() => ack.ack(), 'ack');
      return;
    }
    // rpc backends send the result to the client's reply queue; others ignore these.
    const storeOptions: StoreOptions = {
      replyTo: msg.properties.reply_to ?? '',
      correlationId: msg.properties.correlation_id ?? msg.headers.id,
    };
    if (ack) storeOptions.ack = ack;
    const doc = buildResultDocument({
      taskId: msg.headers.id,
      status,
      result,
      traceback,
      dateDone: new Date(this.clock.now()),
      groupId: msg.headers.group,
      parentId: msg.headers.parent_id,
    });
    if (this.app.options.resultExtended) {
      Object.assign(doc, {
        name: msg.headers.task,
        args: msg.args,
        kwargs: msg.kwargs,
        worker: this.hostname,
        retries: msg.headers.retries,
        queue: ack?.queue ?? '',
      });
    }
    try {
      await backend.store(doc, storeOptions);
    } catch (err) {
      if (isCeleriacError(err, ErrorCodes.SERIALIZATION)) {
        log.error({ err }, 'the task result cannot be serialized; storing EncodeError');
        const failure = buildResultDocument({
          taskId: msg.headers.id,
          status: 'FAILURE',
          result: encodeErrorDocument(err.message),
          traceback: null,
          dateDone: new Date(this.clock.now()),
          groupId: msg.headers.group,
          parentId: msg.headers.parent_id,
        });
        try {
          await backend.store(failure, storeOptions);
          return;
        } catch (err2) {
          err = err2;
        }
      }
      log.error({ err }, 'storing the result failed; requeueing the message');
      if (ack) await this.#settle(() => ack.requeue(), 'requeue');
    }
  }
}
