import { AsyncLocalStorage } from 'node:async_hooks';
import type { RetryOptions } from './task-errors.js';
import {
  CeleriacError,
  ErrorCodes,
  type Logger,
  type TaskHeaders,
  type TaskState,
} from '@celeriac/core';

/**
 * What a running task knows about itself. A task function reaches it two ways:
 * - as `this`, when the task is a `function` (arrow functions have no `this`):
 *   `app.task('resize', async function (this: TaskContext<{ width: number }>, url: string) { ... })`
 *   which also types `this.kwargs`;
 * - from anywhere inside the run with `currentTask()` (AsyncLocalStorage), which suits arrow
 *   functions: across awaits in an `async` function, during the call in a plain one (see
 *   `AsyncContextMode`).
 */
export interface TaskContext<TKwargs extends Record<string, unknown> = Record<string, unknown>> {
  /** The task id. */
  readonly id: string;
  /** The registered task name. */
  readonly name: string;
  /** Positional arguments, as received. */
  readonly args: readonly unknown[];
  /** Keyword arguments: Python callers send these; Node callers pass them as `applyAsync`'s second argument. */
  readonly kwargs: TKwargs;
  /** How many times this task was retried before this run. */
  readonly retries: number;
  readonly rootId: string | null;
  readonly parentId: string | null;
  readonly groupId: string | null;
  /** When the task was due, if it had an ETA or countdown. */
  readonly eta: Date | null;
  /** When the task expires, if it does. */
  readonly expires: Date | null;
  /** All headers of the message, Celery's and custom ones. */
  readonly headers: Readonly<TaskHeaders>;
  /** The queue it came from. */
  readonly queue: string;
  /** True when the broker delivered it before (a restart or crash recovery). */
  readonly redelivered: boolean;
  /** The worker's node name (`celeriac@host`). */
  readonly hostname: string;
  /** Fires when the task should stop: worker shutdown timeout, a time limit, revocation. */
  readonly signal: AbortSignal;
  /** A logger bound to `{ task, taskId }`. */
  readonly logger: Logger;
  /**
   * Stores a custom state with metadata, visible to `AsyncResult.state()` / `info()` here and
   * in Python. Example: `await this.updateState('PROGRESS', { current: 5, total: 10 })`.
   */
  updateState(state: TaskState, meta?: unknown): Promise<void>;
  /**
   * Ends this run and schedules the task again (same id, `retries + 1`) after `countdown`
   * seconds or at `eta`; RETRY is stored with `exc`. Once `maxRetries` is reached, `exc` (or
   * `MaxRetriesExceededError`) is stored as FAILURE instead. Throws; write `return this.retry(...)` or call it as a statement
   * (its `never` type tells TypeScript the run ends there).
   */
  retry(options?: RetryOptions): never;
}

/**
 * How a running task records the tasks sent from it (Celery's `request.children`): a worker's
 * task context has a method under this symbol, and the app calls it with each task it sends
 * while that task is the current one. Contexts without it (a pool member's) record nothing.
 */
export const RECORD_CHILD: unique symbol = Symbol('celeriac.recordChild');

/** A task context that records its children (see {@link RECORD_CHILD}). */
export interface ChildRecorder {
  [RECORD_CHILD]?(tuple: unknown): void;
}

const storage = new AsyncLocalStorage<TaskContext>();
/** The task whose function is being called right now, synchronously (see `callTaskFunction`). */
let calling: TaskContext | undefined;
/** Set once anything ran inside `storage`: from then on Node's promise hooks are on. */
let entered = false;

// Probes for the constructors of `async` functions, which have no global name.
// eslint-disable-next-line @typescript-eslint/require-await -- only its constructor is used
const AsyncFunction = (async () => undefined).constructor;
const AsyncGeneratorFunction = async function* () {
  /* a prototype probe */
}.constructor;

/** Runs `fn` with `ctx` as the current task, inside AsyncLocalStorage. Used by the worker. */
export function runWithTaskContext<T>(ctx: TaskContext, fn: () => T): T {
  entered = true;
  return storage.run(ctx, fn);
}

/**
 * How a worker gives a task function its context (the worker option `asyncContext`):
 * - `true`: inside AsyncLocalStorage, so `currentTask()` works across every `await` and
 *   callback of the run;
 * - `'auto'`: the same for functions declared `async`; a plain function has its context for
 *   the time of its synchronous call only. AsyncLocalStorage turns on Node's promise hooks for
 *   the whole process, a cost every promise then pays (on a worker of no-op tasks, 10-15 % of its
 *   CPU and a few MB of heap), so a worker whose tasks are plain functions does not pay it;
 * - `false`: the synchronous call only, for every function.
 * `this` in a `function` task is the context in every mode.
 */
export type AsyncContextMode = boolean | 'auto';

/** Calls a task function with its context as `this` and as `currentTask()`. Used by the worker. */
export function callTaskFunction(
  ctx: TaskContext,
  fn: (...args: never[]) => unknown,
  args: readonly unknown[],
  mode: AsyncContextMode,
): unknown {
  const call = fn as (this: TaskContext, ...a: unknown[]) => unknown;
  if (
    mode === true ||
    (mode === 'auto' &&
      (fn.constructor === AsyncFunction || fn.constructor === AsyncGeneratorFunction))
  ) {
    entered = true;
    return storage.run(ctx, () => call.apply(ctx, args as unknown[]));
  }
  // Outside any AsyncLocalStorage context: the function's own callbacks must not see the
  // context of whichever task, if any, the worker's code happens to run under. Free while
  // AsyncLocalStorage was never entered (no promise hooks yet).
  if (!entered) return callSync(ctx, call, args);
  return storage.run(undefined as unknown as TaskContext, callSync, ctx, call, args);
}

function callSync(
  ctx: TaskContext,
  call: (this: TaskContext, ...a: unknown[]) => unknown,
  args: readonly unknown[],
): unknown {
  const outer = calling;
  calling = ctx;
  try {
    return call.apply(ctx, args as unknown[]);
  } finally {
    calling = outer;
  }
}

/**
 * The context of the task running in this async flow. Throws
 * `CELERIAC_ERR_INVALID_STATE` (`details.state: 'outside a task'`) when called outside a task.
 */
export function currentTask<
  TKwargs extends Record<string, unknown> = Record<string, unknown>,
>(): TaskContext<TKwargs> {
  const ctx = calling ?? storage.getStore();
  if (!ctx) {
    throw new CeleriacError(
      ErrorCodes.INVALID_STATE,
      'currentTask() was called outside a running task: call it from inside a task function; after an await, only in a function declared async (or with the worker option asyncContext: true); or use `this` in a `function` task',
      { details: { state: 'outside a task' } },
    );
  }
  return ctx as TaskContext<TKwargs>;
}

/** The running task's context, or undefined outside a task. */
export function activeTaskContext(): TaskContext | undefined {
  return calling ?? storage.getStore();
}
