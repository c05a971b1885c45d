import { CeleriacError, ErrorCodes, type SignatureJSON } from '@celeriac/core';
import type { AsyncResult } from '../async-result.js';
import type { GroupResult } from '../group-result.js';
import { sendCanvas } from './dispatch.js';
import { chunksGroup, mapJSON } from './json.js';
import { Signature, type CanvasApp, type CanvasPart, type SignatureOptions } from './signature.js';
import { Group } from './workflows.js';

/**
 * Celery's `xmap` / `xstarmap` (`task.map(items)`, `task.starmap(items)`): ONE message to the
 * built-in `celery.map` / `celery.starmap`, whose worker calls the task's function on each
 * item in turn (not in parallel) and returns the list of results. Any Celeriac or Celery
 * worker that has the task runs it; it is routed where the task is.
 */
export class XMap<TResult = unknown> implements CanvasPart {
  constructor(
    readonly app: CanvasApp,
    readonly kind: 'xmap' | 'xstarmap',
    readonly task: Signature,
    readonly items: readonly unknown[],
  ) {
    if (!Array.isArray(items))
      throw new CeleriacError(ErrorCodes.INVALID_OPTION, `${kind}: items must be an array`);
  }

  /** Celery's dict: `celery.map` / `celery.starmap` with `kwargs.task` and `kwargs.it`. */
  toJSON(): SignatureJSON {
    return mapJSON(this.kind, this.task.toJSON(), this.items, (t) => this.app.queueFor(t));
  }

  applyAsync(): AsyncResult<TResult> {
    return sendCanvas(this.app, this.toJSON()) as AsyncResult<TResult>;
  }

  delay(): AsyncResult<TResult> {
    return this.applyAsync();
  }
}

/**
 * Celery's `chunks` (`task.chunks(items, n)`): the argument lists cut into chunks of `n`, one
 * `celery.starmap` task per chunk, sent as a group. The result is a `GroupResult` whose
 * `get()` gives one list of results per chunk. In a message it travels as Celery's
 * `celery.chunks` dict.
 */
export class Chunks<TResult = unknown> implements CanvasPart {
  constructor(
    readonly app: CanvasApp,
    readonly task: Signature,
    readonly items: readonly unknown[],
    readonly n: number,
  ) {
    if (!Array.isArray(items))
      throw new CeleriacError(ErrorCodes.INVALID_OPTION, 'chunks: items must be an array');
    if (!Number.isInteger(n) || n < 1)
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `chunks: n must be a positive integer, got ${String(n)}`,
        { details: { option: 'n', value: n } },
      );
  }

  /** Celery's dict: `celery.chunks` with `kwargs.task`, `kwargs.it`, `kwargs.n`. */
  toJSON(): SignatureJSON {
    return {
      task: 'celery.chunks',
      args: [],
      kwargs: { task: this.task.toJSON(), it: [...this.items], n: this.n },
      options: {},
      subtask_type: 'chunks',
      immutable: true,
    };
  }

  /** Celery's `chunks.group()`: the group of `celery.starmap` tasks, one per chunk. */
  group(): Group<TResult> {
    const starmaps: XMap[] = [];
    for (let i = 0; i < this.items.length; i += this.n)
      starmaps.push(new XMap(this.app, 'xstarmap', this.task, this.items.slice(i, i + this.n)));
    return new Group<TResult>(starmaps);
  }

  applyAsync(): GroupResult<TResult> {
    const json = chunksGroup(this.toJSON(), (t) => this.app.queueFor(t));
    return sendCanvas(this.app, json) as GroupResult<TResult>;
  }

  delay(): GroupResult<TResult> {
    return this.applyAsync();
  }
}

/** The canvas methods of a task (`add.s(2)`, `add.map([...])`), typed by the task. */
export interface TaskCanvas<
  TArgs extends unknown[] = unknown[],
  TResult = unknown,
  TKwargs extends Record<string, unknown> = Record<string, unknown>,
> {
  /** A partial signature (Celery's `s()`): a chain step gets the previous result prepended. */
  s(...args: unknown[]): Signature<TResult>;
  /** An immutable signature (Celery's `si()`): it runs with exactly these args. */
  si(...args: TArgs): Signature<TResult>;
  /** A signature with kwargs and options (Celery's `signature()`). */
  signature(
    args?: readonly unknown[],
    kwargs?: Partial<TKwargs>,
    options?: SignatureOptions,
  ): Signature<TResult>;
  /** Celery's `task.map(it)`: one task calling this one on each item; the list of results. */
  map(items: readonly TArgs[0][]): XMap<TResult[]>;
  /** Celery's `task.starmap(it)`: as `map`, each item an argument list. */
  starmap(items: readonly TArgs[]): XMap<TResult[]>;
  /** Celery's `task.chunks(it, n)`: `starmap` over chunks of `n` argument lists, as a group. */
  chunks(items: readonly TArgs[], n: number): Chunks<TResult[]>;
}

/** The canvas methods of the task `name` of `app`. */
export function taskCanvas<
  TArgs extends unknown[],
  TResult,
  TKwargs extends Record<string, unknown> = Record<string, unknown>,
>(app: CanvasApp, name: string): TaskCanvas<TArgs, TResult, TKwargs> {
  const bare = (): Signature => new Signature(app, name);
  return {
    s: (...args) => new Signature<TResult>(app, name, args),
    si: (...args) => new Signature<TResult>(app, name, args, {}, {}, true),
    signature: (args = [], kwargs = {}, options = {}) =>
      new Signature<TResult>(app, name, args, kwargs, options),
    map: (items) => new XMap<TResult[]>(app, 'xmap', bare(), items),
    starmap: (items) => new XMap<TResult[]>(app, 'xstarmap', bare(), items),
    chunks: (items, n) => new Chunks<TResult[]>(app, bare(), items, n),
  };
}
