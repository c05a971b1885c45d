import {
  CeleriacError,
  ErrorCodes,
  PROPAGATE_STATES,
  READY_STATES,
  TaskError,
  type ResultBackend,
  type ResultDocument,
  type TaskState,
} from '@celeriac/core';
import {
  optionChecks,
  optionTypes as t,
  isExceptionDocument,
  parseIsoDate,
} from '@celeriac/core/internal';

import type { GroupResult } from './group-result.js';

/**
 * Celery's `result_from_tuple`, which builds `GroupResult`s: result-tuple.ts sets it when
 * the package loads (it imports this module; this one cannot import it back).
 */
export const resultTuples: {
  fromTuple?: (tuple: unknown, source: ResultSource) => AsyncResult | GroupResult | undefined;
} = {};

/** What an `AsyncResult` needs from its app: the result backend. */
export interface ResultSource {
  /** Resolves to the app's result backend, or rejects with `CELERIAC_ERR_NO_RESULT_BACKEND`. */
  resultBackend(): Promise<ResultBackend>;
  /** Revokes tasks (the app's `control.revoke`). */
  revokeTasks?(ids: readonly string[], options?: RevokeTaskOptions): Promise<void>;
}

export interface RevokeTaskOptions {
  /** Stop the task if a worker is running it (abort its signal; kill its thread or child). @default false */
  terminate?: boolean;
  /** Seconds workers remember the revocation. @default 10800 (3 hours, as Celery) */
  ttl?: number;
}

const getChecks = optionChecks('get()');
const GET_SPEC = {
  timeout: t.seconds,
  propagate: t.boolean,
  signal: { expected: 'an AbortSignal', test: (v: unknown) => v instanceof AbortSignal },
} as const;

export interface GetOptions {
  /** Seconds to wait, as in Celery. @default wait forever */
  timeout?: number;
  /** Reject with the task's error when it failed (Celery's `propagate`). @default true */
  propagate?: boolean;
  signal?: AbortSignal;
}

/**
 * A handle on a task's result. `get()` waits by notification from the result backend, never
 * by polling. The state methods (`state()`, `ready()`, …) read the backend each call until the
 * task is ready, then answer from the cached document; `result`, `traceback` and `dateDone`
 * are that cached document's fields (undefined before the first read).
 *
 * @example
 * ```ts
 * const r = add.delay(2, 3);
 * console.log(await r.get({ timeout: 10 })); // 5
 * ```
 */
export class AsyncResult<T = unknown> {
  #id: string;
  /** The task name, when known (it is not stored by Celery's backends). */
  readonly name: string | undefined;
  /** Resolves once the message is on the broker; rejects with the publish failure. */
  readonly published: Promise<void>;
  readonly #source: ResultSource;
  /**
   * The result this one follows (Celery's `parent`): in a chain the step before; for a chord's
   * body the header's `GroupResult`. Undefined for a task sent on its own.
   */
  parent: AsyncResult | { readonly id: string } | undefined;
  #doc: ResultDocument | null = null;
  readonly #redirects: boolean;

  /**
   * @param options.published settles when the message is on the broker; when it resolves with
   * a task id (a unique task already queued), this result follows that task instead.
   * @param options.redirects false when `published` never resolves with another id: `get()`
   * then waits for the result and the publish at once (default true: the publish first).
   */
  constructor(
    id: string,
    source: ResultSource,
    options: { name?: string; published?: Promise<string | void>; redirects?: boolean } = {},
  ) {
    this.#id = id;
    this.#redirects = options.redirects ?? true;
    this.#source = source;
    this.name = options.name;
    this.published = options.published
      ? options.published.then((redirect) => {
          if (typeof redirect === 'string') this.#id = redirect;
        })
      : Promise.resolve();
    // The app logs a failed publish; an unawaited `published` must not crash the process too.
    this.published.catch(() => undefined);
  }

  /** The task id. For a unique task it becomes the first task's id once `published` settles. */
  get id(): string {
    return this.#id;
  }

  /**
   * Waits for the task to finish and returns its return value. When it failed (or was
   * revoked) rejects with a `TaskError` carrying the remote type, message and traceback;
   * with `propagate: false` returns that error instead.
   */
  get(options?: GetOptions & { propagate?: true }): Promise<T>;
  get(options: GetOptions & { propagate: false }): Promise<T | TaskError>;
  async get(options: GetOptions = {}): Promise<T | TaskError> {
    getChecks.strict(
      options,
      GET_SPEC satisfies { readonly [K in keyof Required<GetOptions>]: unknown },
    );
    if (options.timeout !== undefined && !(options.timeout >= 0)) {
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `get(): timeout must be a number of seconds >= 0, got ${String(options.timeout)}`,
        { details: { option: 'timeout', value: options.timeout, expected: 'seconds >= 0' } },
      );
    }
    const doc =
      this.#doc && READY_STATES.has(this.#doc.status) ? this.#doc : await this.#waitFor(options);
    this.#doc = doc;
    if (doc.status === 'SUCCESS') return doc.result as T;
    const error = this.#errorOf(doc);
    if (options.propagate === false || !PROPAGATE_STATES.has(doc.status)) return error;
    throw error;
  }

  /**
   * The task's ready document. The task's result proves its message was published, so unless
   * `published` may change the id, the wait starts at once, beside the publish, rather than after
   * the broker's confirm (on RabbitMQ, a persistent message's confirm may wait for a disk sync,
   * long after the result is back); a publish that fails still rejects, and ends the wait.
   */
  async #waitFor(options: GetOptions): Promise<ResultDocument> {
    const timing = options.timeout === undefined ? {} : { timeoutMs: options.timeout * 1000 };
    if (this.#redirects) {
      await this.published;
      return (await this.#source.resultBackend()).waitFor(this.id, {
        ...timing,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }
    let backend: ResultBackend;
    try {
      backend = await this.#source.resultBackend();
    } catch (err) {
      await this.published; // a failed publish is the first thing to report
      throw err;
    }
    const abort = new AbortController();
    const outer = options.signal;
    const onAbort = (): void => abort.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    else outer?.addEventListener('abort', onAbort, { once: true });
    const publishFailed = this.published.then(
      () => new Promise<never>(() => undefined), // published: the wait decides
      (err: unknown) => {
        abort.abort(err);
        throw err;
      },
    );
    try {
      return await Promise.race([
        backend.waitFor(this.id, { ...timing, signal: abort.signal }),
        publishFailed,
      ]);
    } finally {
      outer?.removeEventListener('abort', onAbort);
    }
  }

  /** Reads the stored document (null while PENDING); caches it. */
  async refresh(): Promise<ResultDocument | null> {
    if (this.#doc && READY_STATES.has(this.#doc.status)) return this.#doc;
    const doc = await (await this.#source.resultBackend()).get(this.id);
    if (doc) this.#doc = doc;
    return doc;
  }

  /** The task's state: PENDING when nothing is stored yet (Celery cannot tell unknown from waiting). */
  async state(): Promise<TaskState> {
    return (await this.refresh())?.status ?? 'PENDING';
  }

  async ready(): Promise<boolean> {
    return READY_STATES.has(await this.state());
  }

  async successful(): Promise<boolean> {
    return (await this.state()) === 'SUCCESS';
  }

  async failed(): Promise<boolean> {
    return (await this.state()) === 'FAILURE';
  }

  /**
   * Celery's `info`: the return value after SUCCESS, the error after FAILURE/RETRY/REVOKED,
   * the metadata of a custom state such as PROGRESS, undefined while PENDING.
   */
  async info(): Promise<unknown> {
    const doc = await this.refresh();
    if (!doc) return undefined;
    return isExceptionDocument(doc.result) ? this.#errorOf(doc) : doc.result;
  }

  /** The return value (or error document) of the last read, if any. */
  get result(): unknown {
    return this.#doc?.result;
  }

  get traceback(): string | null | undefined {
    return this.#doc ? this.#doc.traceback : undefined;
  }

  /**
   * Celery's `children`: the results of the tasks this task sent while it ran (its chain's
   * next step, its callbacks, the tasks its function sent), as the worker stored them when
   * the task ended; a group it sent is a `GroupResult`. From the last read like `result`:
   * undefined before the first `get()` / `refresh()` / state call, `[]` when it sent none.
   */
  get children(): (AsyncResult | GroupResult)[] | undefined {
    if (!this.#doc) return undefined;
    const stored = Array.isArray(this.#doc.children) ? this.#doc.children : [];
    const out: (AsyncResult | GroupResult)[] = [];
    for (const tuple of stored) {
      const r = resultTuples.fromTuple?.(tuple, this.#source);
      if (r) out.push(r);
    }
    return out;
  }

  get dateDone(): Date | null | undefined {
    if (!this.#doc) return undefined;
    return this.#doc.date_done ? parseIsoDate(this.#doc.date_done) : null;
  }

  /**
   * Revokes the task: no worker starts it, and with `terminate` a worker running it stops it.
   * REVOKED is stored when a worker meets it.
   */
  async revoke(options: RevokeTaskOptions = {}): Promise<void> {
    if (!this.#source.revokeTasks) {
      throw new CeleriacError(
        ErrorCodes.INVALID_STATE,
        'revoke(): this result is not attached to an app that can revoke',
        { details: { state: 'detached' } },
      );
    }
    await this.#source.revokeTasks([this.#id], options);
  }

  /** Deletes the stored result. */
  async forget(): Promise<void> {
    this.#doc = null;
    await (await this.#source.resultBackend()).forget(this.id);
  }

  toString(): string {
    return this.id;
  }

  toJSON(): string {
    return this.id;
  }

  #errorOf(doc: ResultDocument): TaskError {
    if (isExceptionDocument(doc.result))
      return TaskError.fromDocument(doc.result, doc.traceback, this.id);
    return new TaskError({
      type: doc.status === 'REVOKED' ? 'TaskRevokedError' : 'Exception',
      module: 'celery.exceptions',
      args: [
        doc.result === null || doc.result === undefined ? doc.status : JSON.stringify(doc.result),
      ],
      traceback: doc.traceback,
      taskId: this.id,
    });
  }
}
