import { randomUUID } from 'node:crypto';
import { CeleriacError, ErrorCodes, type SignatureJSON } from '@celeriac/core';
import { AsyncResult, type ResultSource } from './async-result.js';
import { GroupResult } from './group-result.js';
import { sendChordWithUnlock } from './chord-unlock.js';
import type { SignatureSendExtra } from './task-message.js';

/** What the canvas needs from its app: sending a signature and reading results. */
export interface CanvasApp extends ResultSource {
  sendSignature(sig: SignatureJSON, extra?: SignatureSendExtra): AsyncResult;
  /** The queue this app routes a task to (its own queue, the routes, the default queue). */
  queueFor(name: string): string;
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
  link?: readonly Signature[];
  /** Signatures sent with this task's id when it fails for good (Celery's `link_error`). */
  linkError?: readonly Signature[];
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
      out[name] = (value as Signature[]).map((s) => s.toJSON());
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
export class Signature<TResult = unknown> {
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
  link(callback: Signature): Signature<TResult> {
    return this.set({ link: [...(this.options.link ?? []), callback] });
  }

  /** Adds an errback (Celery's `link_error`). */
  linkError(errback: Signature): Signature<TResult> {
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
    return sig.app.sendSignature(sig.toJSON()) as AsyncResult<TResult>;
  }

  delay(...args: unknown[]): AsyncResult<TResult> {
    return this.applyAsync(args);
  }
}

function nestingError(what: string): CeleriacError {
  return new CeleriacError(
    ErrorCodes.INVALID_OPTION,
    `${what}: only task signatures can be parts here (a group or chord nested inside is not supported yet); send the inner workflow from a task instead`,
  );
}

function asSignatures(what: string, parts: readonly unknown[]): Signature[] {
  if (!Array.isArray(parts) || (parts.length === 0 && what !== 'chord()'))
    throw new CeleriacError(ErrorCodes.INVALID_OPTION, `${what}: give at least one signature`);
  for (const p of parts) if (!(p instanceof Signature)) throw nestingError(what);
  return parts as Signature[];
}

/**
 * Celery's `chain`: each step runs after the previous one succeeded and receives its result as
 * the first argument (unless it is immutable). The workers send each next step; the result is
 * the last step's, with `parent` the one before it.
 */
export class Chain<TResult = unknown> {
  readonly steps: readonly Signature[];
  constructor(steps: readonly Signature[]) {
    this.steps = asSignatures('chain()', steps);
  }

  applyAsync(args: readonly unknown[] = []): AsyncResult<TResult> {
    // Every step gets its id now, so the results are linked before anything runs.
    const steps = this.steps.map((s) => s.set({ taskId: s.options.taskId ?? randomUUID() }));
    const [first, ...rest] = steps as [Signature, ...Signature[]];
    const chain = rest.map((s) => s.toJSON()).reverse();
    const head = first.app.sendSignature(first.clone(args).toJSON(), chain.length ? { chain } : {});
    let last: AsyncResult = head;
    for (const step of rest) {
      const r = new AsyncResult(step.options.taskId!, step.app, {
        name: step.task,
        published: head.published,
      });
      r.parent = last;
      last = r;
    }
    return last as AsyncResult<TResult>;
  }

  delay(...args: unknown[]): AsyncResult<TResult> {
    return this.applyAsync(args);
  }
}

/** Celery's `group`: its tasks run in parallel; the result is a {@link GroupResult}. */
export class Group<TResult = unknown> {
  readonly tasks: readonly Signature[];
  constructor(tasks: readonly Signature[]) {
    this.tasks = asSignatures('group()', tasks);
  }

  applyAsync(
    args: readonly unknown[] = [],
    options: { groupId?: string } = {},
  ): GroupResult<TResult> {
    const groupId = options.groupId ?? randomUUID();
    const results = this.tasks.map((s, groupIndex) =>
      s.app.sendSignature(s.clone(args).toJSON(), { groupId, groupIndex }),
    );
    const app = this.tasks[0]!.app;
    return new GroupResult<TResult>(groupId, results as AsyncResult<TResult>[], app);
  }

  delay(...args: unknown[]): GroupResult<TResult> {
    return this.applyAsync(args);
  }
}

/**
 * Celery's `chord`: the header group runs, then the body receives the list of its results (in
 * header order). Needs a result backend that joins chords (Redis); a failing header part fails
 * the chord: the body does not run, its errbacks run once, and its result is a `ChordError`.
 */
export class Chord<TResult = unknown> {
  readonly header: readonly Signature[];
  constructor(
    header: readonly Signature[],
    readonly body: Signature<TResult>,
  ) {
    this.header = asSignatures('chord()', header);
    if (!(body instanceof Signature)) throw nestingError('chord() body');
  }

  applyAsync(args: readonly unknown[] = []): AsyncResult<TResult> {
    const app = this.body.app;
    const groupId = randomUUID();
    const body = this.body.set({ taskId: this.body.options.taskId ?? randomUUID() });
    const header = this.header.map((s) => s.clone(args));
    const headerResults = header.map(
      (s) => new AsyncResult(s.options.taskId ?? randomUUID(), s.app, { name: s.task }),
    );
    const published = (async (): Promise<void> => {
      if (header.length === 0) {
        // Celery runs the body of an empty chord at once, with no results.
        await app.sendSignature(body.toJSON(), { parentResult: [] }).published;
        return;
      }
      const backend = await app.resultBackend();
      if (!backend.setChordSize) {
        // No native join (SQLite, memory): Celery's polling `celery.chord_unlock` joins it.
        const headerIds = headerResults.map((r) => r.id);
        await sendChordWithUnlock(app, backend, { groupId, header, headerIds, body });
        return;
      }
      await backend.setChordSize(groupId, header.length);
      const bodyJSON = body.toJSON();
      await Promise.all(
        header.map((s, groupIndex) => {
          const part = s.set({ taskId: headerResults[groupIndex]!.id }).toJSON();
          part.options['chord'] = bodyJSON;
          return app.sendSignature(part, { groupId, groupIndex }).published;
        }),
      );
    })();
    const result = new AsyncResult<TResult>(body.options.taskId!, app, {
      name: body.task,
      published,
    });
    result.parent = new GroupResult(groupId, headerResults, app);
    return result;
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

/** `chain(a, b, c)`: Celery's `a | b | c`. */
export function chain<TResult = unknown>(...steps: Signature[]): Chain<TResult> {
  return new Chain<TResult>(steps);
}

export function group<TResult = unknown>(tasks: readonly Signature<TResult>[]): Group<TResult> {
  return new Group<TResult>(tasks);
}

export function chord<TResult = unknown>(
  header: readonly Signature[],
  body: Signature<TResult>,
): Chord<TResult> {
  return new Chord<TResult>(header, body);
}
