import type { SerializerName } from '@celeriac/core';
import type { AsyncResult } from './async-result.js';
import type { TaskContext } from './task-context.js';
import type { CanvasPart, TaskCanvas } from './canvas.js';

/**
 * A task function: positional arguments in, a value (or a promise of one) out. Declare it as a
 * `function` with a typed `this` to reach the context and typed kwargs, or use `currentTask()`.
 */
export type TaskFunction<
  TArgs extends unknown[],
  TResult,
  TKwargs extends Record<string, unknown> = Record<string, unknown>,
> = (this: TaskContext<TKwargs>, ...args: TArgs) => TResult | Promise<TResult>;

/** Options given when a task is defined; each is a default that a call may override. */
export interface TaskOptions {
  /** Queue the task is published to. @default the app's `defaultQueue` (`celery`) */
  queue?: string;
  /** Store no result (Celery's `ignore_result`). @default false */
  ignoreResult?: boolean;
  /** Serializer for its messages. @default the app's `taskSerializer` (`json`) */
  serializer?: SerializerName;
  /** Hard time limit in seconds. @default none */
  timeLimit?: number;
  /** Soft time limit in seconds: the task's signal aborts. @default none */
  softTimeLimit?: number;
  /** Store STARTED when a worker begins the task. @default false */
  trackStarted?: boolean;
  /** Default priority of its messages (0..9; see the broker for the order). @default none */
  priority?: number;
  /** Seconds after publishing (or a date) after which the task is not run. @default never */
  expires?: number | Date;
  /** Retries before the last error is stored as FAILURE; null retries forever. @default 3 */
  maxRetries?: number | null;
  /** Seconds before a retry when neither `countdown` nor `eta` is given. @default 180 */
  defaultRetryDelay?: number;
  /**
   * Errors retried automatically: classes (matched with `instanceof`) or type names (matched
   * with `err.name`, which also matches a Python exception name). @default none
   */
  autoretryFor?: readonly (string | (abstract new (...args: never[]) => Error))[];
  /** Errors never retried automatically, even when `autoretryFor` matches. @default none */
  dontAutoretryFor?: readonly (string | (abstract new (...args: never[]) => Error))[];
  /**
   * Exponential backoff for automatic retries: true (factor 1 s) or a factor in seconds; the
   * delay is `factor × 2^retries`, capped by `retryBackoffMax`. @default false (use `defaultRetryDelay`)
   */
  retryBackoff?: boolean | number;
  /** Cap of the backoff delay in seconds. @default 600 */
  retryBackoffMax?: number;
  /** Full jitter on backoff delays (a uniform delay between 0 and the backoff). @default true */
  retryJitter?: boolean;
  /**
   * Ack after the task finished (at-least-once: a task whose worker dies runs again) or, with
   * false, before it starts (at-most-once: a task whose worker dies is lost). @default true
   */
  acksLate?: boolean;
  /**
   * With `acksLate`, what happens to a task whose worker thread or child process died under it
   * (killed, out of memory): true requeues it; false stores FAILURE `WorkerLostError`.
   * @default false (as Celery)
   */
  rejectOnWorkerLost?: boolean;
  /**
   * Most starts of this task per second, minute or hour across every worker sharing the
   * coordination store (Redis), e.g. `'10/s'`, `'100/m'`, `'1000/h'`. Starts are evenly
   * spaced; a task waiting for its slot holds no concurrency slot. @default no limit
   */
  rateLimit?: string;
  /** One rate-limit bucket per key, e.g. per tenant: `(args, kwargs) => String(kwargs.tenant)`. @default one bucket */
  rateLimitKey?: (args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>) => string;
  /**
   * A second publish with the same key within `ttl` seconds is not enqueued; it returns the
   * first task's result (its `id` is the first task's once `published` settles).
   * @default not unique
   */
  unique?: UniqueOptions;
}

export interface UniqueOptions {
  /** Seconds the first publish holds the key. */
  ttl: number;
  /** The uniqueness key. @default JSON of the args and kwargs */
  key?: (args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>) => string;
}

/** A parsed `rateLimit`: `count` starts per `intervalMs`. */
export interface RateLimit {
  count: number;
  intervalMs: number;
}

/** Parses Celery's rate-limit syntax (`'10/s'`, `'100/m'`, `'1000/h'`, a bare number per second). */
export function parseRateLimit(text: string): RateLimit | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*([smh]))?\s*$/.exec(text);
  if (!m) return undefined;
  const count = Number(m[1]);
  if (!(count > 0)) return undefined;
  const unit = m[2] ?? 's';
  return { count, intervalMs: unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000 };
}

/** Per-call options of `applyAsync` and `sendTask`, named as in Celery. */
export interface ApplyOptions {
  /** Seconds from now before the task may run. Not with `eta`. */
  countdown?: number;
  /** The earliest time the task may run. Not with `countdown`. */
  eta?: Date | string;
  /** Seconds from now, or a date, after which the task is discarded and marked REVOKED. */
  expires?: number | Date | string;
  /** Message priority 0..9. On memory and Redis lower runs first; on RabbitMQ higher does. */
  priority?: number;
  /** Queue to publish to. @default the task's `queue`, else the app's routes, else `defaultQueue` */
  queue?: string;
  /** Use this task id instead of a random uuid. */
  taskId?: string;
  /** Extra message headers. */
  headers?: Record<string, unknown>;
  /** Do not store the result. */
  ignoreResult?: boolean;
  serializer?: SerializerName;
  /** Hard time limit in seconds for this call. */
  timeLimit?: number;
  /** Soft time limit in seconds for this call. */
  softTimeLimit?: number;
  /** Name shown in logs and monitors instead of the task name (Celery's `shadow`). */
  shadow?: string;
  /** Parent task id; filled in automatically when called from inside a running task. */
  parentId?: string;
  /** Root task id; filled in automatically when called from inside a running task. */
  rootId?: string;
  /**
   * Sent with this task's result when it succeeds (Celery's `link`): a signature or any
   * workflow, or a list of them; each gets the result as its first argument unless immutable.
   */
  link?: CanvasPart | readonly CanvasPart[];
  /** Sent with this task's id when it fails for good (Celery's `link_error`). */
  linkError?: CanvasPart | readonly CanvasPart[];
}

/**
 * A registered task. `delay(...args)` and `applyAsync(args, kwargs, options)` publish it and
 * return an `AsyncResult` at once; the publish runs in the background (`result.published`
 * settles when the broker has the message, and `get()` rejects if it failed).
 */
export interface Task<
  TArgs extends unknown[] = unknown[],
  TResult = unknown,
  TKwargs extends Record<string, unknown> = Record<string, unknown>,
> extends TaskCanvas<TArgs, TResult, TKwargs> {
  readonly name: string;
  readonly options: Readonly<TaskOptions>;
  /** The function itself, for calling it directly (in tests, say) without a broker. */
  readonly fn: TaskFunction<TArgs, TResult, TKwargs>;
  delay(...args: TArgs): AsyncResult<TResult>;
  applyAsync(args: TArgs, kwargs?: Partial<TKwargs>, options?: ApplyOptions): AsyncResult<TResult>;
}
