/**
 * Whether a failed run is retried, and when: Celery's rules as one pure function, so every
 * case is a row of a table test (`retry-policy.test.ts`) with time and randomness injected.
 */
import type { RetryOptions, TaskOptions } from '@celeriac/client';
import { MaxRetriesExceededError, NonRetryableError, Retry } from '@celeriac/client';
import type { TaskHeaders } from '@celeriac/core';

/** Retries allowed when the task sets no `maxRetries` (Celery's `max_retries`). */
export const DEFAULT_MAX_RETRIES = 3;
/** Seconds before a retry when the task sets no `defaultRetryDelay` (Celery's `default_retry_delay`). */
export const DEFAULT_RETRY_DELAY_SECONDS = 180;
/** The cap of an exponential backoff in seconds when the task sets no `retryBackoffMax`. */
export const DEFAULT_RETRY_BACKOFF_MAX_SECONDS = 600;
/** Whether an exponential backoff is jittered when the task sets no `retryJitter`. */
export const DEFAULT_RETRY_JITTER = true;

/**
 * Celery's `get_exponential_backoff_interval`: `factor × 2^retries` seconds, capped at
 * `maximum`, then with full jitter a uniform whole number of seconds in [0, that].
 * `random` is injected so tests are exact.
 */
export function backoffSeconds(o: {
  factor: number;
  retries: number;
  maximum: number;
  fullJitter: boolean;
  random?: () => number;
}): number {
  const countdown = Math.min(o.maximum, o.factor * 2 ** o.retries);
  if (!o.fullJitter) return Math.max(0, countdown);
  const r = (o.random ?? Math.random)();
  return Math.max(0, Math.floor(r * (Math.floor(countdown) + 1)));
}

/** What the worker does with an error a task threw. */
export type RetryDecision =
  /** Not a retry: the error is stored as FAILURE. */
  | { readonly kind: 'fail' }
  /** A retry was due but `maxRetries` is spent: `error` is stored as FAILURE. */
  | { readonly kind: 'exceeded'; readonly error: unknown; readonly maxRetries: number }
  /**
   * Publish the message again with `retries + 1` at `etaMs`, and store `exc` as RETRY.
   * `delayMs` is how far ahead that is (0 or less: due at once).
   */
  | {
      readonly kind: 'retry';
      readonly delayMs: number;
      readonly etaMs: number;
      readonly exc: unknown;
    };

/** The parts of the message a retry decision reads. */
export type RetryHeaders = Pick<TaskHeaders, 'task' | 'id' | 'retries' | 'argsrepr' | 'kwargsrepr'>;

/** What a decision depends on besides the task and its error: injected, so it stays pure. */
export interface RetryEnvironment {
  /** Epoch milliseconds. */
  readonly now: number;
  /** In [0, 1), for the backoff's jitter. */
  readonly random: () => number;
}

type ErrorMatcher = NonNullable<TaskOptions['autoretryFor']>[number];

const FAIL: RetryDecision = Object.freeze({ kind: 'fail' });

/** True when `err` is one of `list`: a class it is an instance of, or its name (or a remote error's type). */
function matches(err: unknown, list: readonly ErrorMatcher[] | undefined): boolean {
  if (!list || list.length === 0) return false;
  const name = err instanceof Error ? err.name : undefined;
  const remoteType =
    typeof err === 'object' && err !== null ? (err as { type?: unknown }).type : undefined;
  return list.some((m) =>
    typeof m === 'string' ? m === name || m === remoteType : err instanceof m,
  );
}

/** A retry the error asks for (explicit `ctx.retry()`, or `autoretryFor`), or undefined. */
function retryRequest(options: Readonly<TaskOptions>, error: unknown): RetryOptions | undefined {
  if (error instanceof Retry) return error.options;
  if (
    error instanceof NonRetryableError ||
    !matches(error, options.autoretryFor) ||
    matches(error, options.dontAutoretryFor)
  ) {
    return undefined;
  }
  return { exc: error };
}

/** Milliseconds until the retry: the request's eta or countdown, else backoff or the default delay. */
function retryDelayMs(
  options: Readonly<TaskOptions>,
  request: RetryOptions,
  retries: number,
  env: RetryEnvironment,
): number {
  if (request.eta) return request.eta.getTime() - env.now;
  if (request.countdown !== undefined) return request.countdown * 1000;
  // Backoff follows failures, not a plain `retry()` without an error of its own.
  if (request.exc !== undefined && !(request.exc instanceof Retry) && options.retryBackoff) {
    const factor = options.retryBackoff === true ? 1 : options.retryBackoff;
    return (
      1000 *
      backoffSeconds({
        factor,
        retries,
        maximum: options.retryBackoffMax ?? DEFAULT_RETRY_BACKOFF_MAX_SECONDS,
        fullJitter: options.retryJitter ?? DEFAULT_RETRY_JITTER,
        random: env.random,
      })
    );
  }
  return (options.defaultRetryDelay ?? DEFAULT_RETRY_DELAY_SECONDS) * 1000;
}

/**
 * Celery's retry rules: an explicit `ctx.retry()` or an error in `autoretryFor` (and not in
 * `dontAutoretryFor`, nor a `NonRetryableError`) retries, until `maxRetries` (the request's,
 * else the task's, else 3; null: forever) is spent. The delay is the request's `eta` or
 * `countdown`, else the task's backoff (for an error), else `defaultRetryDelay`.
 */
export function decideRetry(
  options: Readonly<TaskOptions>,
  error: unknown,
  headers: RetryHeaders,
  env: RetryEnvironment,
): RetryDecision {
  const request = retryRequest(options, error);
  if (!request) return FAIL;
  const maxRetries =
    request.maxRetries !== undefined
      ? request.maxRetries
      : options.maxRetries === undefined
        ? DEFAULT_MAX_RETRIES
        : options.maxRetries;
  if (maxRetries !== null && headers.retries >= maxRetries) {
    return {
      kind: 'exceeded',
      maxRetries,
      error:
        request.exc ??
        new MaxRetriesExceededError(
          `Can't retry ${headers.task}[${headers.id}] args:${headers.argsrepr ?? ''} kwargs:${headers.kwargsrepr ?? ''}`,
        ),
    };
  }
  const delayMs = retryDelayMs(options, request, headers.retries, env);
  return {
    kind: 'retry',
    delayMs,
    etaMs: env.now + Math.max(0, delayMs),
    exc: request.exc ?? new Retry(request),
  };
}
