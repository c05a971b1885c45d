import { TimeLimitExceeded, type RegisteredTask } from '@celeriac/client';
import type { Delivery, TaskMessage } from '@celeriac/core';
import type { Outcome } from './execution.js';

/** How a revoked task ended, as Celery's `task-revoked` event says it. */
export interface RevokedInfo {
  /** Stopped while it ran (revoke with terminate). */
  readonly terminated: boolean;
  /** Not run because its `expires` passed. */
  readonly expired: boolean;
}

/**
 * What happens to each task in a worker, for whoever watches it from inside the process:
 * Celery's events, Prometheus metrics, tracing. Every method is optional and must not throw
 * (a watcher's bug must not cost a task); each is called once per step, in the order Celery
 * sends its events: received, started, then one of succeeded, failed, retried, revoked or
 * rejected. `queue` is the queue the message came from.
 *
 * Register one with `worker.observe(observer)`. With none registered the worker pays one
 * array-length check per step.
 */
export interface TaskObserver {
  /** Decoded and its task found (Celery's `task-received`). */
  received?(msg: TaskMessage, queue: string): void;
  /** About to run (Celery's `task-started`). */
  started?(msg: TaskMessage, queue: string): void;
  /** Returned; `runtime` in seconds. */
  succeeded?(msg: TaskMessage, queue: string, result: unknown, runtime: number): void;
  /** Failed for good (no retry left); `error` is what it threw or why it stopped. */
  failed?(msg: TaskMessage, queue: string, error: unknown, runtime: number): void;
  /** Will run again: its retry was published. */
  retried?(msg: TaskMessage, queue: string, error: unknown): void;
  /** Not run, or stopped while it ran, by a revocation or its expiry. */
  revoked?(msg: TaskMessage, queue: string, info: RevokedInfo): void;
  /**
   * Dead-lettered: undecodable or for a task this worker does not know. `msg` is undefined
   * when the message could not be decoded.
   */
  rejected?(msg: TaskMessage | undefined, delivery: Delivery, requeue: boolean): void;
}

type Step = keyof TaskObserver;

/**
 * The observers of one worker, called in registration order. A throwing observer is logged
 * once per step name and otherwise ignored.
 */
export class Observers implements Required<TaskObserver> {
  #list: TaskObserver[] = [];
  readonly #onError: (err: unknown, step: Step) => void;

  constructor(onError: (err: unknown, step: Step) => void) {
    this.#onError = onError;
  }

  /** Whether anyone watches: callers skip building arguments when nobody does. */
  get active(): boolean {
    return this.#list.length > 0;
  }

  add(observer: TaskObserver): () => void {
    this.#list = [...this.#list, observer];
    return () => {
      this.#list = this.#list.filter((o) => o !== observer);
    };
  }

  // One loop per step, no closure per call: these run three times per task.
  received(msg: TaskMessage, queue: string): void {
    for (const o of this.#list) {
      if (!o.received) continue;
      try {
        o.received(msg, queue);
      } catch (err) {
        this.#onError(err, 'received');
      }
    }
  }

  started(msg: TaskMessage, queue: string): void {
    for (const o of this.#list) {
      if (!o.started) continue;
      try {
        o.started(msg, queue);
      } catch (err) {
        this.#onError(err, 'started');
      }
    }
  }

  succeeded(msg: TaskMessage, queue: string, result: unknown, runtime: number): void {
    for (const o of this.#list) {
      if (!o.succeeded) continue;
      try {
        o.succeeded(msg, queue, result, runtime);
      } catch (err) {
        this.#onError(err, 'succeeded');
      }
    }
  }

  failed(msg: TaskMessage, queue: string, error: unknown, runtime: number): void {
    for (const o of this.#list) {
      if (!o.failed) continue;
      try {
        o.failed(msg, queue, error, runtime);
      } catch (err) {
        this.#onError(err, 'failed');
      }
    }
  }

  retried(msg: TaskMessage, queue: string, error: unknown): void {
    for (const o of this.#list) {
      if (!o.retried) continue;
      try {
        o.retried(msg, queue, error);
      } catch (err) {
        this.#onError(err, 'retried');
      }
    }
  }

  revoked(msg: TaskMessage, queue: string, info: RevokedInfo): void {
    for (const o of this.#list) {
      if (!o.revoked) continue;
      try {
        o.revoked(msg, queue, info);
      } catch (err) {
        this.#onError(err, 'revoked');
      }
    }
  }

  rejected(msg: TaskMessage | undefined, delivery: Delivery, requeue: boolean): void {
    for (const o of this.#list) {
      if (!o.rejected) continue;
      try {
        o.rejected(msg, delivery, requeue);
      } catch (err) {
        this.#onError(err, 'rejected');
      }
    }
  }
}

/**
 * Tells `observers` how a run ended, for every outcome but a thrown error (whether that is a
 * retry or a failure is the retry policy's to say, and the result writer tells it then).
 */
export function observeOutcome(
  observers: Observers,
  task: RegisteredTask,
  msg: TaskMessage,
  queue: string,
  outcome: Outcome,
  runtime: number,
): void {
  switch (outcome.kind) {
    case 'returned':
      return observers.succeeded(msg, queue, outcome.value, runtime);
    case 'revoked':
      return observers.revoked(msg, queue, { terminated: true, expired: false });
    case 'timeLimit':
      return observers.failed(msg, queue, new TimeLimitExceeded(outcome.seconds), runtime);
    case 'workerLost':
      // Requeued under rejectOnWorkerLost (Celery's task-rejected with requeue), else FAILURE.
      if (task.options.rejectOnWorkerLost === true) return;
      return observers.failed(msg, queue, outcome.error, runtime);
    case 'threw':
      return;
  }
}
