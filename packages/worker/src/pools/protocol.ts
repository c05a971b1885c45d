/**
 * The messages between the worker and a pool thread or child process. Both channels
 * (`worker_threads` ports and `fork` with `serialization: 'advanced'`) carry V8's structured
 * clone, so args, results, Dates, typed arrays and bigints cross as they are; errors cross
 * as `SerializedError` so their type, module and retry options survive.
 *
 * A task's life: `run` → (any number of `log`, and `state` answered by `stateDone`) →
 * `done`. The worker may send `abort` meanwhile (soft time limit, shutdown). A thread or
 * child is stopped with `exit` (graceful) or killed (hard time limit, shutdown).
 */
import { inspect } from 'node:util';
import type { RetryOptions } from '@celeriac/client';
import {
  MaxRetriesExceededError,
  NonRetryableError,
  Retry,
  SoftTimeLimitExceeded,
  TimeLimitExceeded,
} from '@celeriac/client';
import { TaskError, type TaskHeaders, type TaskState } from '@celeriac/core';
import type { AppModuleRef } from './app-module.js';

/** What the child needs to build a `TaskContext`. Dates travel as ISO strings. */
export interface TaskRequest {
  readonly id: string;
  readonly name: string;
  readonly retries: number;
  readonly rootId: string | null;
  readonly parentId: string | null;
  readonly groupId: string | null;
  readonly eta: string | null;
  readonly expires: string | null;
  readonly headers: Readonly<TaskHeaders>;
  readonly queue: string;
  readonly redelivered: boolean;
  readonly hostname: string;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** Worker → thread or child. */
export type ParentMessage =
  | {
      readonly type: 'run';
      readonly seq: number;
      readonly request: TaskRequest;
      readonly args: readonly unknown[];
      readonly kwargs: Record<string, unknown>;
    }
  | { readonly type: 'abort'; readonly seq: number; readonly reason: SerializedThrown }
  | { readonly type: 'stateDone'; readonly call: number; readonly error: string | null }
  | { readonly type: 'exit' };

/** Thread or child → worker. */
export type ChildMessage =
  | { readonly type: 'ready'; readonly pid: number; readonly threadId: number }
  | { readonly type: 'loadFailed'; readonly error: SerializedThrown }
  | {
      readonly type: 'state';
      readonly seq: number;
      readonly call: number;
      readonly state: TaskState;
      readonly meta: unknown;
    }
  | {
      readonly type: 'log';
      readonly seq: number;
      readonly level: LogLevel;
      readonly obj: Record<string, unknown>;
      readonly msg: string | undefined;
    }
  | {
      readonly type: 'done';
      readonly seq: number;
      readonly outcome:
        | { readonly kind: 'returned'; readonly value: unknown }
        | { readonly kind: 'threw'; readonly error: SerializedThrown };
      /** What `maxMemoryPerChild` is compared with: RSS for a child, the thread's own heap for a thread. */
      readonly memoryKiB: number;
    };

/** How the entry learns which app to load: `workerData` for a thread, `argv[2]` (JSON) for a child. */
export type ChildInit = AppModuleRef;

/** An error as it crosses: enough to rebuild one that stores and retries as the original. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  /** Constructor names, most specific first (`['ConnectionError', 'Error']`): `instanceof` in the worker. */
  readonly chain: readonly string[];
  readonly excModule: string | undefined;
  readonly excArgs: readonly unknown[] | undefined;
  /** Own enumerable primitive fields (`code`, `errno`, ...). */
  readonly props: Readonly<Record<string, string | number | boolean | null>>;
  /** Set for a `Retry`: its options. */
  readonly retry?: {
    readonly countdown?: number;
    readonly eta?: string;
    readonly maxRetries?: number | null;
    readonly exc?: SerializedThrown;
  };
  /** Set for a `TaskError` (a failed subtask's error rethrown): its remote type. */
  readonly taskError?: {
    readonly type: string;
    readonly module: string | null;
    readonly args: readonly unknown[];
    readonly traceback: string | null;
  };
  readonly cause?: SerializedThrown;
}

/** Anything a task throws: an error, or another value (`throw 'oops'`). */
export type SerializedThrown = { readonly error: SerializedError } | { readonly value: unknown };

const SKIPPED_PROPS = new Set([
  'name',
  'message',
  'stack',
  'excModule',
  'excArgs',
  'cause',
  'options',
]);

function constructorChain(err: object): string[] {
  const names: string[] = [];
  for (
    let p = Object.getPrototypeOf(err) as object | null;
    p && p !== Object.prototype;
    p = Object.getPrototypeOf(p) as object | null
  ) {
    const ctor = (p as { constructor?: unknown }).constructor;
    const name = typeof ctor === 'function' ? ctor.name : '';
    if (name) names.push(name);
  }
  return names;
}

function cloneable(value: unknown): unknown {
  if (value === null || typeof value !== 'object')
    return typeof value === 'function' || typeof value === 'symbol' ? String(value) : value;
  try {
    return structuredClone(value);
  } catch {
    return inspect(value, { depth: 2 });
  }
}

/** Serializes what a task threw (in the child). `depth` bounds cause chains. */
export function serializeThrown(thrown: unknown, depth = 0): SerializedThrown {
  if (!(thrown instanceof Error)) return { value: cloneable(thrown) };
  const props: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of Object.entries(thrown as unknown as Record<string, unknown>)) {
    if (SKIPPED_PROPS.has(k)) continue;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
      props[k] = v;
  }
  const excModule = (thrown as { excModule?: unknown }).excModule;
  const excArgs = (thrown as { excArgs?: unknown }).excArgs;
  const error: { -readonly [K in keyof SerializedError]: SerializedError[K] } = {
    name: thrown.name,
    message: thrown.message,
    stack: thrown.stack,
    chain: constructorChain(thrown),
    excModule: typeof excModule === 'string' ? excModule : undefined,
    excArgs: Array.isArray(excArgs) ? (cloneable(excArgs) as unknown[]) : undefined,
    props,
  };
  if (thrown instanceof Retry) {
    const o = thrown.options;
    error.retry = {
      ...(o.countdown === undefined ? {} : { countdown: o.countdown }),
      ...(o.eta === undefined ? {} : { eta: o.eta.toISOString() }),
      ...(o.maxRetries === undefined ? {} : { maxRetries: o.maxRetries }),
      ...(o.exc === undefined ? {} : { exc: serializeThrown(o.exc, depth + 1) }),
    };
  }
  if (thrown instanceof TaskError) {
    error.taskError = {
      type: thrown.type,
      module: thrown.module,
      args: cloneable(thrown.args) as unknown[],
      traceback: thrown.traceback,
    };
  }
  if (thrown.cause !== undefined && depth < 3)
    error.cause = serializeThrown(thrown.cause, depth + 1);
  return { error };
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** Classes every error is matched against, besides the ones a task names in `autoretryFor`. */
const KNOWN: readonly ErrorClass[] = [
  NonRetryableError,
  SoftTimeLimitExceeded,
  TimeLimitExceeded,
  MaxRetriesExceededError,
  TypeError,
  RangeError,
  ReferenceError,
  SyntaxError,
  URIError,
  EvalError,
];

function define(target: object, key: string, value: unknown, enumerable = false): void {
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable });
}

/**
 * Rebuilds a thrown value (in the worker, or an abort reason in the child). A `Retry` comes
 * back as a `Retry` with its options; a `TaskError` as a `TaskError`; any other error as an
 * Error with the same name, message, stack, `excModule` and `excArgs`, whose prototype is
 * the most specific of `classes` (and the known Celeriac and JS errors) named in its
 * constructor chain, so `instanceof` in `autoretryFor` works as it does in the async pool.
 */
export function rebuildThrown(s: SerializedThrown, classes: readonly unknown[] = []): unknown {
  if (!('error' in s)) return s.value;
  const e = s.error;
  if (e.retry) {
    const r = e.retry;
    const options: RetryOptions = {
      ...(r.countdown === undefined ? {} : { countdown: r.countdown }),
      ...(r.eta === undefined ? {} : { eta: new Date(r.eta) }),
      ...(r.maxRetries === undefined ? {} : { maxRetries: r.maxRetries }),
      ...(r.exc === undefined ? {} : { exc: rebuildThrown(r.exc, classes) }),
    };
    const retry = new Retry(options);
    if (e.stack !== undefined) define(retry, 'stack', e.stack);
    return retry;
  }
  const cause = e.cause === undefined ? undefined : rebuildThrown(e.cause, classes);
  if (e.taskError) {
    const t = e.taskError;
    return new TaskError({
      type: t.type,
      module: t.module,
      args: [...t.args],
      traceback: t.traceback,
      ...(cause === undefined ? {} : { cause }),
    });
  }
  const err = new Error(e.message, cause === undefined ? undefined : { cause });
  let best: ErrorClass | undefined;
  let bestIndex = Infinity;
  for (const c of [...classes, ...KNOWN]) {
    if (typeof c !== 'function' || !(c.prototype instanceof Error)) continue;
    const i = e.chain.indexOf(c.name);
    if (i !== -1 && i < bestIndex) {
      best = c as ErrorClass;
      bestIndex = i;
    }
  }
  if (best) Object.setPrototypeOf(err, best.prototype as object);
  define(err, 'name', e.name);
  define(err, 'stack', e.stack);
  for (const [k, v] of Object.entries(e.props)) define(err, k, v, true);
  if (e.excModule !== undefined) define(err, 'excModule', e.excModule, true);
  if (e.excArgs !== undefined) define(err, 'excArgs', [...e.excArgs], true);
  return err;
}
