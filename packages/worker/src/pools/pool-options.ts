import { optionChecks } from '@celeriac/core/internal';
import { resolveAppModule, type AppModuleRef } from './app-module.js';

/** Where tasks run. See docs/pools.md for what each pool guarantees. */
export type PoolKind = 'async' | 'threads' | 'process';

/** The pool options of `WorkerOptions`. */
export interface PoolOptions {
  /**
   * Where tasks run: `async` runs them concurrently in the worker's event loop (best for
   * I/O-bound tasks; a hard time limit can only abandon a task); `threads` runs each in a
   * `worker_threads` thread and `process` in a child process (`child_process.fork`), both
   * loading `appModule`, one task at a time each, `concurrency` of them; a hard time limit
   * terminates the thread or child, so even CPU-bound code is stopped.
   * @default 'async'
   */
  pool?: PoolKind;
  /**
   * The module that defines the app, loaded by every pool thread or child: a file path
   * (absolute, or relative to the current directory) or package name, with `:exportName`
   * when the app is not exported as `app` or default, as the CLI's `--app`. It must define
   * the app and its tasks and do nothing else at import (no worker of its own).
   * Required by the `threads` and `process` pools.
   * @default none
   */
  appModule?: string;
  /** Tasks a pool thread or child runs before it is replaced by a fresh one. @default no limit */
  maxTasksPerChild?: number;
  /**
   * KiB a pool thread or child may use, checked after each task: once over, it is replaced.
   * A child process counts its resident set size (RSS); a thread counts its own V8 heap and
   * external memory (threads share one process, whose RSS says nothing about one thread).
   * @default no limit
   */
  maxMemoryPerChild?: number;
}

/** Pool options as compiled: validated, with the app module resolved; undefined for `async`. */
export interface CompiledPoolOptions {
  readonly kind: 'threads' | 'process';
  readonly appModule: AppModuleRef;
  readonly maxTasksPerChild: number | null;
  readonly maxMemoryPerChildKiB: number | null;
}

const { invalid, wrongType } = optionChecks('Worker');

function positiveInteger(value: number | undefined, name: string): number | null {
  if (value === undefined) return null;
  if (!Number.isInteger(value) || value < 1) throw wrongType(name, value, 'an integer >= 1');
  return value;
}

/** Validates the pool options; undefined means the async pool (tasks run in the worker itself). */
export function compilePoolOptions(
  o: PoolOptions,
  cwd = process.cwd(),
): CompiledPoolOptions | undefined {
  const kind = o.pool ?? 'async';
  if (kind !== 'async' && kind !== 'threads' && kind !== 'process') {
    throw wrongType('pool', kind, '"async", "threads" or "process"');
  }
  const maxTasksPerChild = positiveInteger(o.maxTasksPerChild, 'maxTasksPerChild');
  const maxMemoryPerChildKiB = positiveInteger(o.maxMemoryPerChild, 'maxMemoryPerChild');
  if (kind === 'async') {
    if (maxTasksPerChild !== null || maxMemoryPerChildKiB !== null) {
      throw invalid(
        maxTasksPerChild !== null ? 'maxTasksPerChild' : 'maxMemoryPerChild',
        'applies to the "threads" and "process" pools only (as maxTasksPerChild and maxMemoryPerChild do); set pool as well',
      );
    }
    return undefined;
  }
  if (typeof o.appModule !== 'string' || o.appModule === '') {
    throw invalid(
      'appModule',
      `is required by pool "${kind}": the module that defines the app, which every ${kind === 'threads' ? 'thread' : 'child process'} loads (e.g. "./dist/app.js" or "./dist/app.js:myApp"); the CLI passes --app`,
    );
  }
  return Object.freeze({
    kind,
    appModule: resolveAppModule(o.appModule, cwd),
    maxTasksPerChild,
    maxMemoryPerChildKiB,
  });
}
