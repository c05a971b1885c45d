import { Retry, type RetryOptions, type TaskContext } from '@celeriac/client';
import { RECORD_CHILD, type ChildRecorder } from '@celeriac/client/internal';
import { type LogFn, type Logger, type TaskMessage, type TaskState } from '@celeriac/core';
import { messageEta, messageExpires } from '@celeriac/core/internal';
import { addChild } from './children.js';
import type { InFlight } from './in-flight.js';

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/**
 * A child logger created on first use: most tasks log nothing of their own. A class, not a
 * closure per level, because one is made for every task.
 */
class LazyChildLogger implements Logger {
  #child: Logger | undefined;
  readonly #base: Logger;
  readonly #bindings: Record<string, unknown>;
  constructor(base: Logger, bindings: Record<string, unknown>) {
    this.#base = base;
    this.#bindings = { ...bindings };
  }
  /** Adds bindings (a trace's ids once its span starts); a child made already is made anew. */
  bind(more: Record<string, unknown>): void {
    Object.assign(this.#bindings, more);
    this.#child = undefined;
  }
  #get(): Logger {
    return (this.#child ??= this.#base.child(this.#bindings));
  }
  trace: LogFn = (o: Record<string, unknown> | string, msg?: string) => this.#log('trace', o, msg);
  debug: LogFn = (o: Record<string, unknown> | string, msg?: string) => this.#log('debug', o, msg);
  info: LogFn = (o: Record<string, unknown> | string, msg?: string) => this.#log('info', o, msg);
  warn: LogFn = (o: Record<string, unknown> | string, msg?: string) => this.#log('warn', o, msg);
  error: LogFn = (o: Record<string, unknown> | string, msg?: string) => this.#log('error', o, msg);
  fatal: LogFn = (o: Record<string, unknown> | string, msg?: string) => this.#log('fatal', o, msg);
  child(more: Record<string, unknown>): Logger {
    return this.#get().child(more);
  }
  #log(level: Level, o: Record<string, unknown> | string, msg?: string): void {
    if (this.#base.isLevelEnabled?.(level) === false) return;
    if (typeof o === 'string') this.#get()[level](o);
    else this.#get()[level](o, msg);
  }
}

/** The logger of one task's messages: `{ task, taskId }` bound, the child made on first use. */
export function taskLogger(base: Logger, msg: TaskMessage): Logger {
  return new LazyChildLogger(base, { task: msg.headers.task, taskId: msg.headers.id });
}

/** Binds `more` on a task's logger made by `taskLogger` (other loggers are left alone). */
export function bindLogger(log: Logger, more: Record<string, unknown>): void {
  if (log instanceof LazyChildLogger) log.bind(more);
}

/** What a task context needs from its worker, shared by every context of one worker. */
export interface ContextHost {
  readonly hostname: string;
  storeState(msg: TaskMessage, state: TaskState, meta: unknown, log: Logger): Promise<void>;
}

/**
 * The `this` of a running task (and `currentTask()`): what Celery's `self.request` tells,
 * `retry()`, `updateState()`, the task's signal and its logger. One object per run, its
 * methods on the prototype; the signal's controller is made on first use, on the entry, so
 * the worker aborts it on a soft time limit, a revocation or a shutdown.
 */
export class RunContext implements TaskContext, ChildRecorder {
  readonly id: string;
  readonly name: string;
  readonly args: readonly unknown[];
  readonly kwargs: Record<string, unknown>;
  readonly retries: number;
  readonly rootId: string | null;
  readonly parentId: string | null;
  readonly groupId: string | null;
  readonly headers: TaskMessage['headers'];
  readonly queue: string;
  readonly redelivered: boolean;
  readonly hostname: string;
  readonly logger: Logger;
  readonly #host: ContextHost;
  readonly #msg: TaskMessage;
  readonly #entry: InFlight;

  constructor(host: ContextHost, msg: TaskMessage, entry: InFlight, log: Logger) {
    const h = msg.headers;
    this.id = h.id;
    this.name = h.task;
    this.args = msg.args;
    this.kwargs = msg.kwargs;
    this.retries = h.retries;
    this.rootId = h.root_id;
    this.parentId = h.parent_id;
    this.groupId = h.group;
    this.headers = h;
    this.queue = entry.delivery.queue;
    this.redelivered = entry.delivery.redelivered;
    this.hostname = host.hostname;
    this.logger = log;
    this.#host = host;
    this.#msg = msg;
    this.#entry = entry;
  }
  get eta(): Date | null {
    return messageEta(this.headers);
  }
  get expires(): Date | null {
    return messageExpires(this.headers);
  }
  get signal(): AbortSignal {
    this.#entry.controller ??= new AbortController();
    return this.#entry.controller.signal;
  }
  updateState(state: TaskState, meta?: unknown): Promise<void> {
    return this.#host.storeState(this.#msg, state, meta ?? null, this.logger);
  }
  retry(options?: RetryOptions): never {
    throw new Retry(options);
  }
  /** A task sent while this one runs: one of its `children`. */
  [RECORD_CHILD](tuple: unknown): void {
    addChild(this.headers, tuple);
  }
}
