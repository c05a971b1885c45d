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

  #each<S extends Step>(
    step: S,
    call: (fn: NonNullable<TaskObserver[S]>, o: TaskObserver) => void,
  ): void {
    for (const o of this.#list) {
      const fn = o[step];
      if (!fn) continue;
      try {
        call(fn, o);
      } catch (err) {
        this.#onError(err, step);
      }
    }
  }

  received(msg: TaskMessage, queue: string): void {
    if (this.#list.length) this.#each('received', (fn, o) => fn.call(o, msg, queue));
  }

  started(msg: TaskMessage, queue: string): void {
    if (this.#list.length) this.#each('started', (fn, o) => fn.call(o, msg, queue));
  }

  succeeded(msg: TaskMessage, queue: string, result: unknown, runtime: number): void {
    if (this.#list.length)
      this.#each('succeeded', (fn, o) => fn.call(o, msg, queue, result, runtime));
  }

  failed(msg: TaskMessage, queue: string, error: unknown, runtime: number): void {
    if (this.#list.length) this.#each('failed', (fn, o) => fn.call(o, msg, queue, error, runtime));
  }

  retried(msg: TaskMessage, queue: string, error: unknown): void {
    if (this.#list.length) this.#each('retried', (fn, o) => fn.call(o, msg, queue, error));
  }

  revoked(msg: TaskMessage, queue: string, info: RevokedInfo): void {
    if (this.#list.length) this.#each('revoked', (fn, o) => fn.call(o, msg, queue, info));
  }

  rejected(msg: TaskMessage | undefined, delivery: Delivery, requeue: boolean): void {
    if (this.#list.length) this.#each('rejected', (fn, o) => fn.call(o, msg, delivery, requeue));
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
