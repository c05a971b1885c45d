/**
 * One task run as the pools see it: what the worker hands a pool (`PoolRun`), the message
 * that carries it to a thread or child, and how it ended (`PoolOutcome`).
 */
import type { TaskContext, TaskOptions } from '@celeriac/client';
import { rebuildThrown, type ChildMessage, type ParentMessage } from './protocol.js';
import { WorkerLostError } from './worker-lost-error.js';

/** How a task run in a pool ended; the worker stores and acks by it as for the async pool. */
export type PoolOutcome =
  | { readonly kind: 'returned'; readonly value: unknown }
  | { readonly kind: 'threw'; readonly error: unknown }
  | { readonly kind: 'timeLimit'; readonly seconds: number }
  | { readonly kind: 'workerLost'; readonly error: WorkerLostError };

/**
 * One task to run: its context (the worker's: `updateState` stores, `logger` logs), options
 * and hard limit. The context's signal is the worker's word: aborted with
 * `SoftTimeLimitExceeded`, the abort is relayed to the task; aborted for any other reason
 * (hard limit, revocation, shutdown) the worker has given up on the run, and the thread or
 * child is killed and replaced.
 */
export interface PoolRun {
  readonly ctx: TaskContext;
  readonly options: Readonly<TaskOptions>;
  /**
   * Hard time limit in seconds. The worker's own timer aborts the signal then, but a signal
   * aborts only once, and may already have for the soft limit: the pool keeps its own timer.
   */
  readonly hard: number | null;
  /**
   * Aborted when the run must end now whatever the task's signal did before (revocation with
   * terminate after a soft limit already used the signal): the member is killed.
   */
  readonly kill?: AbortSignal;
}

/** The `run` message of a task: its request (what its context tells), args and kwargs. */
export function runMessage(ctx: TaskContext, seq: number): ParentMessage {
  return {
    type: 'run',
    seq,
    request: {
      id: ctx.id,
      name: ctx.name,
      retries: ctx.retries,
      rootId: ctx.rootId,
      parentId: ctx.parentId,
      groupId: ctx.groupId,
      eta: ctx.eta?.toISOString() ?? null,
      expires: ctx.expires?.toISOString() ?? null,
      headers: ctx.headers,
      queue: ctx.queue,
      redelivered: ctx.redelivered,
      hostname: ctx.hostname,
    },
    args: ctx.args,
    kwargs: ctx.kwargs,
  };
}

/**
 * The outcome a thread or child reported. A thrown error is rebuilt knowing the task's retry
 * classes, so `autoretryFor` and `dontAutoretryFor` match it by `instanceof` as in the async pool.
 */
export function outcomeOf(
  outcome: Extract<ChildMessage, { type: 'done' }>['outcome'],
  options: Readonly<TaskOptions>,
): PoolOutcome {
  return outcome.kind === 'returned'
    ? { kind: 'returned', value: outcome.value }
    : {
        kind: 'threw',
        error: rebuildThrown(outcome.error, [
          ...(options.autoretryFor ?? []),
          ...(options.dontAutoretryFor ?? []),
        ]),
      };
}

/** The outcome of a run the pool dropped because it was closed (the worker requeued it). */
export function poolClosed(signal: string | null): PoolOutcome {
  return {
    kind: 'workerLost',
    error: new WorkerLostError({ code: null, signal, detail: 'The pool was closed.' }),
  };
}
