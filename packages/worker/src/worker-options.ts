import { hostname as osHostname } from 'node:os';
import type { AsyncContextMode } from '@celeriac/client';
import { type Clock, type Logger } from '@celeriac/core';
import { optionChecks, optionTypes as t, type OptionType } from '@celeriac/core/internal';
import {
  compilePoolOptions,
  type CompiledPoolOptions,
  type PoolOptions,
} from './pools/pool-options.js';

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
  /**
   * Send Celery's task events (`task-received`, `task-started`, `task-succeeded`, …) on
   * `celeryev`, for Flower, `celery events`, celery-exporter and `celeriac dashboard` (Redis
   * and RabbitMQ). Celery's `worker_send_task_events` and `-E`; remote control's
   * `enable_events` / `disable_events` turn them on and off at runtime. @default false
   */
  events?: boolean;
  /**
   * Send `worker-online`, a `worker-heartbeat` every 2 seconds and `worker-offline` on
   * `celeryev`, as every Celery worker does (its `--without-heartbeat` turns them off): how
   * monitors know the worker is alive. @default true
   */
  heartbeat?: boolean;
}

/** Tasks run at once when `concurrency` is not given. */
export const DEFAULT_CONCURRENCY = 10;
/** `prefetch` is `concurrency` times this when not given (Celery's `worker_prefetch_multiplier`). */
export const DEFAULT_PREFETCH_MULTIPLIER = 4;
/** Seconds `shutdown()` lets running tasks finish when `shutdownTimeout` is not given. */
export const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 30;
/** How a task's context follows it when `asyncContext` is not given. */
export const DEFAULT_ASYNC_CONTEXT: AsyncContextMode = 'auto';
/** The hostname prefix when `hostname` is not given: `celeriac@<host>`. */
export const DEFAULT_HOSTNAME_PREFIX = 'celeriac@';

/** What a worker takes from its app when an option is not given. */
export interface WorkerDefaults {
  readonly defaultQueue: string;
  readonly logger: Logger;
  readonly clock: Clock;
}

/** `WorkerOptions` with every default applied and every value checked. */
export interface CompiledWorkerOptions {
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly prefetch: number;
  /** `prefetch` was given; otherwise it follows concurrency (remote control's `pool_grow`). */
  readonly prefetchGiven: boolean;
  readonly hostname: string;
  readonly shutdownTimeoutMs: number;
  /** The logger given, or the app's; the worker binds its hostname to it. */
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: () => number;
  readonly asyncContext: AsyncContextMode;
  readonly remoteControl: boolean;
  readonly events: boolean;
  readonly heartbeat: boolean;
  /** The threads or process pool; undefined for the async pool. */
  readonly pool: CompiledPoolOptions | undefined;
}

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
  events: t.boolean,
  heartbeat: t.boolean,
  pool: t.oneOf('async', 'threads', 'process'),
  appModule: t.nonEmptyString,
  maxTasksPerChild: t.positiveInteger,
  maxMemoryPerChild: t.positiveInteger,
} as const satisfies { readonly [K in keyof Required<WorkerOptions>]: OptionType };

const workerChecks = optionChecks('Worker');

/**
 * Checks `options` and applies the defaults (the app's queue, logger and clock among them).
 * Throws `CELERIAC_ERR_INVALID_OPTION` naming the key, as every Celeriac constructor does.
 */
export function compileWorkerOptions(
  options: WorkerOptions,
  defaults: WorkerDefaults,
): CompiledWorkerOptions {
  workerChecks.strict(options, WORKER_SPEC, {
    renamed: { shutdownTimeoutMs: 'shutdownTimeout' },
  });
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const prefetch = options.prefetch ?? concurrency * DEFAULT_PREFETCH_MULTIPLIER;
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
  const queues = Object.freeze([...(options.queues ?? [defaults.defaultQueue])]);
  if (queues.length === 0)
    throw workerChecks.invalid('queues', 'must name at least one queue', { value: [] });
  return Object.freeze({
    queues,
    concurrency,
    prefetch,
    prefetchGiven: options.prefetch !== undefined,
    hostname: options.hostname ?? `${DEFAULT_HOSTNAME_PREFIX}${osHostname()}`,
    shutdownTimeoutMs: (options.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT_SECONDS) * 1000,
    logger: options.logger ?? defaults.logger,
    clock: options.clock ?? defaults.clock,
    random: options.random ?? Math.random,
    asyncContext: options.asyncContext ?? DEFAULT_ASYNC_CONTEXT,
    remoteControl: options.remoteControl ?? true,
    events: options.events ?? false,
    heartbeat: options.heartbeat ?? true,
    pool: compilePoolOptions(options),
  });
}
