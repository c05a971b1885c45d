import { CeleriacError, ErrorCodes, type SignatureJSON } from '@celeriac/core';
import type { AsyncResult, ResultSource } from '../async-result.js';
import type { GroupResult } from '../group-result.js';
import type { SignatureSendExtra } from '../task-message.js';

/** What sending a signature returns: a task's result, or a group's (a group, chunks). */
export type CanvasResult = AsyncResult | GroupResult;

/** What the canvas needs from its app: sending a signature and reading results. */
export interface CanvasApp extends ResultSource {
  /** Sends one signature dict of any kind (see `Celeriac.sendSignature`). */
  sendSignature(sig: SignatureJSON, extra?: SignatureSendExtra): CanvasResult;
  /** The queue this app routes a task to (its own queue, the routes, the default queue). */
  queueFor(name: string): string;
}

/** Anything the canvas can send or embed: a signature, chain, group, chord, map or chunks. */
export interface CanvasPart {
  readonly app: CanvasApp;
  /** Celery's dict form, what travels in a message (and what a Python worker sends). */
  toJSON(): SignatureJSON;
}

/**
 * Options a signature carries, named as `applyAsync`'s. They travel in the signature (Celery's
 * snake_case names on the wire), so a worker that sends the signature later, as a chain step
 * or a callback, applies them.
 */
export interface SignatureOptions {
  queue?: string;
  priority?: number;
  countdown?: number;
  eta?: Date | string;
  expires?: number | Date | string;
  taskId?: string;
  timeLimit?: number;
  softTimeLimit?: number;
  shadow?: string;
  ignoreResult?: boolean;
  /** Signatures sent with this task's result when it succeeds (Celery's `link`). */
  link?: readonly CanvasPart[];
  /** Signatures sent with this task's id when it fails for good (Celery's `link_error`). */
  linkError?: readonly CanvasPart[];
}

const WIRE_NAMES: Record<string, string> = {
  queue: 'queue',
  priority: 'priority',
  countdown: 'countdown',
  eta: 'eta',
  expires: 'expires',
  taskId: 'task_id',
  timeLimit: 'time_limit',
  softTimeLimit: 'soft_time_limit',
  shadow: 'shadow',
  ignoreResult: 'ignore_result',
  link: 'link',
  linkError: 'link_error',
};

function wireOptions(options: SignatureOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    const name = WIRE_NAMES[key];
    if (name === undefined) {
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `signature: unknown option "${key}"; the options are ${Object.keys(WIRE_NAMES).join(', ')}`,
        { details: { option: key } },
      );
    }
    if (value === undefined) continue;
    if (key === 'link' || key === 'linkError')
      out[name] = (value as CanvasPart[]).map((s) => s.toJSON());
    else out[name] = value instanceof Date ? value.toISOString() : value;
  }
  return out;
}

/**
 * A task call not yet sent (Celery's `Signature`): name, args, kwargs, options. `task.s(...)`
 * makes a partial one (a chain step receives the previous result as its first argument),
 * `task.si(...)` an immutable one. Signatures are values: `set()` and `clone()` return new ones.
 *
 * @example
 * ```ts
 * const r = chain(add.s(2, 2), add.s(4), add.s(8)).applyAsync();
 * await r.get({ timeout: 10 }); // 16
 * ```
 */
export class Signature<TResult = unknown> implements CanvasPart {
  constructor(
    readonly app: CanvasApp,
    readonly task: string,
    readonly args: readonly unknown[] = [],
    readonly kwargs: Readonly<Record<string, unknown>> = {},
    readonly options: Readonly<SignatureOptions> = {},
    readonly immutable = false,
  ) {
    wireOptions(options); // an unknown option fails here, not when a worker sends it
  }

  /** A copy with these options merged over its own. */
  set(options: SignatureOptions): Signature<TResult> {
    return this.clone([], {}, options);
  }

  /** A copy with `args` appended (unless immutable), `kwargs` and `options` merged. */
  clone(
    args: readonly unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: SignatureOptions = {},
  ): Signature<TResult> {
    return new Signature<TResult>(
      this.app,
      this.task,
      this.immutable ? this.args : [...this.args, ...args],
      { ...this.kwargs, ...kwargs },
      { ...this.options, ...options },
      this.immutable,
    );
  }

  /** Adds a callback (Celery's `link`). */
  link(callback: CanvasPart): Signature<TResult> {
    return this.set({ link: [...(this.options.link ?? []), callback] });
  }

  /** Adds an errback (Celery's `link_error`). */
  linkError(errback: CanvasPart): Signature<TResult> {
    return this.set({ linkError: [...(this.options.linkError ?? []), errback] });
  }

  /**
   * The signature as it travels in a message: Celery's dict form. It names the queue this app
   * routes the task to, so whichever worker sends it onward (Python or Node, with routes of
   * its own or none) publishes it where this app would.
   */
  toJSON(): SignatureJSON {
    return {
      task: this.task,
      args: [...this.args],
      kwargs: { ...this.kwargs },
      options: { queue: this.app.queueFor(this.task), ...wireOptions(this.options) },
      subtask_type: null,
      immutable: this.immutable,
    };
  }

  /** Sends it, with `args` appended (unless immutable) and options merged. */
  applyAsync(
    args: readonly unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: SignatureOptions = {},
  ): AsyncResult<TResult> {
    const sig = this.clone(args, kwargs, options);
    // A task signature's dict has no subtask_type: the app sends it as one task.
    return sig.app.sendSignature(sig.toJSON()) as AsyncResult<TResult>;
  }

  delay(...args: unknown[]): AsyncResult<TResult> {
    return this.applyAsync(args);
  }
}

/** Celery's `signature(name, args, kwargs, options)`: a signature of a task known by name only. */
export function signature<TResult = unknown>(
  app: CanvasApp,
  name: string,
  args: readonly unknown[] = [],
  kwargs: Record<string, unknown> = {},
  options: SignatureOptions = {},
): Signature<TResult> {
  return new Signature<TResult>(app, name, args, kwargs, options);
}
