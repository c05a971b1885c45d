/**
 * Errors with Celery's meaning that tasks raise or the worker stores. Each carries the Python
 * module of its Celery twin (`excModule`), so a Python client re-raises the real class.
 */
import { optionChecks, optionTypes as t, type OptionType } from '@celeriac/core/internal';

export interface RetryOptions {
  /** Seconds until the retry runs. @default the task's `defaultRetryDelay` (180 s) */
  countdown?: number;
  /** When the retry runs (instead of `countdown`). */
  eta?: Date;
  /** Overrides the task's `maxRetries` for this decision; null retries forever. */
  maxRetries?: number | null;
  /** The error that caused the retry: stored with RETRY, and as FAILURE once retries run out. */
  exc?: unknown;
}

const RETRY_SPEC = {
  countdown: t.seconds,
  eta: t.date,
  maxRetries: t.anyOf(t.nonNegativeInteger, {
    expected: 'null (retry forever)',
    test: (v) => v === null,
  }),
  exc: t.any,
} as const satisfies { readonly [K in keyof Required<RetryOptions>]: OptionType };

const retryChecks = optionChecks('retry()');

/**
 * Thrown by `ctx.retry()` to end the run and schedule another (Celery's `Retry`). Do not catch
 * it in the task; if you do, rethrow it.
 */
export class Retry extends Error {
  readonly excModule = 'celery.exceptions';
  readonly options: Readonly<RetryOptions>;
  constructor(options: RetryOptions = {}) {
    // A misspelt option (`countDown`) would retry on the default delay: the task fails instead.
    retryChecks.strict(options, RETRY_SPEC);
    const cause = options.exc instanceof Error ? `: ${options.exc.message}` : '';
    super(`Retry requested${cause}`);
    this.name = 'Retry';
    this.options = Object.freeze({ ...options });
  }
}

/** A failure that must not be retried, even when its type is in `autoretryFor`. */
export class NonRetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetryableError';
  }
}

/** Stored when a task asked to retry more than `maxRetries` times without an error of its own. */
export class MaxRetriesExceededError extends Error {
  readonly excModule = 'celery.exceptions';
  constructor(message: string) {
    super(message);
    this.name = 'MaxRetriesExceededError';
  }
}

/** The task's signal aborts with this when its soft time limit passes; the task may clean up. */
export class SoftTimeLimitExceeded extends Error {
  readonly excModule = 'billiard.exceptions';
  constructor(seconds: number) {
    super(`SoftTimeLimitExceeded(${seconds})`);
    this.name = 'SoftTimeLimitExceeded';
  }
}

/** Stored when a task ran past its hard time limit and was stopped (or, in the async pool, abandoned). */
export class TimeLimitExceeded extends Error {
  readonly excModule = 'billiard.exceptions';
  readonly excArgs: unknown[];
  constructor(seconds: number) {
    super(`TimeLimitExceeded(${seconds})`);
    this.name = 'TimeLimitExceeded';
    this.excArgs = [seconds];
  }
}
