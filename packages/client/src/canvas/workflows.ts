import { CeleriacError, ErrorCodes, type SignatureJSON } from '@celeriac/core';
import type { AsyncResult } from '../async-result.js';
import type { GroupResult } from '../group-result.js';
import { sendCanvas } from './dispatch.js';
import { chainJSON, chainSteps, chordJSON, groupJSON, withArgs, withOptions } from './json.js';
import type { Chunks, XMap } from './map.js';
import type { CanvasApp, CanvasPart, CanvasResult, Signature } from './signature.js';

/** What sending a part returns: a group's (and chunks') `GroupResult`, otherwise an `AsyncResult`. */
export type ResultOf<P> =
  P extends Group<infer T>
    ? GroupResult<T>
    : P extends Chunks<infer T>
      ? GroupResult<T>
      : P extends Chain<infer R extends CanvasResult>
        ? R
        : P extends Chord<infer R extends CanvasResult>
          ? R
          : P extends XMap<infer T>
            ? AsyncResult<T>
            : P extends Signature<infer T>
              ? AsyncResult<T>
              : CanvasResult;

/** The value one result of a part holds (a group's parts each hold one). */
export type ValueOf<P> =
  ResultOf<P> extends GroupResult<infer T>
    ? T
    : ResultOf<P> extends AsyncResult<infer T>
      ? T
      : unknown;

function parts(what: string, list: readonly CanvasPart[], allowEmpty = false): CanvasPart[] {
  const given: unknown = list;
  if (!Array.isArray(given) || (given.length === 0 && !allowEmpty))
    throw new CeleriacError(ErrorCodes.INVALID_OPTION, `${what}: give at least one signature`);
  const out = [...(given as unknown[])];
  for (const p of out) {
    const part = p as Partial<CanvasPart> | null;
    if (typeof part?.toJSON !== 'function' || !part.app)
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `${what}: the parts must be signatures, chains, groups, chords, maps or chunks`,
      );
  }
  return out as CanvasPart[];
}

/** Sends a workflow's dict with Node's `applyAsync(args)` args appended to what runs first. */
function apply<R>(app: CanvasApp, json: SignatureJSON, args: readonly unknown[]): R {
  return sendCanvas(app, withArgs(json, args, false)) as R;
}

/**
 * Celery's `chain`: each step runs after the previous one succeeded and receives its result as
 * the first argument (unless it is immutable). Steps can be chains (spliced in), groups and
 * chords: as in Celery, a group followed by a step becomes a chord with that step as its body,
 * and the steps after a chord continue its body. The workers send each next step; the result
 * is the last step's (a `GroupResult` when the chain ends in a group), its `parent` the step
 * before (for a chord, the header's `GroupResult`).
 */
export class Chain<R extends CanvasResult = AsyncResult> implements CanvasPart {
  readonly steps: readonly CanvasPart[];
  constructor(steps: readonly CanvasPart[]) {
    this.steps = parts('chain()', steps);
  }

  get app(): CanvasApp {
    return this.steps[0]!.app;
  }

  /** Celery's `chain` dict (`celery.chain`, `kwargs.tasks`), steps arranged as `a | b | c`. */
  toJSON(): SignatureJSON {
    return chainJSON(chainSteps(this.steps.map((s) => s.toJSON())));
  }

  /** Sends the first step, `args` appended to its own (unless immutable). */
  applyAsync(args: readonly unknown[] = []): R {
    return apply<R>(this.app, this.toJSON(), args);
  }

  delay(...args: unknown[]): R {
    return this.applyAsync(args);
  }
}

/**
 * Celery's `group`: its parts run in parallel; the result is a {@link GroupResult} of one
 * result per part, in order. Parts can be chains and chords (their last task's result counts)
 * and groups (unrolled into this one, as Celery does).
 */
export class Group<TResult = unknown> implements CanvasPart {
  readonly tasks: readonly CanvasPart[];
  constructor(tasks: readonly CanvasPart[]) {
    this.tasks = parts('group()', tasks);
  }

  get app(): CanvasApp {
    return this.tasks[0]!.app;
  }

  /** Celery's `group` dict (`celery.group`, `kwargs.tasks`). */
  toJSON(): SignatureJSON {
    return groupJSON(this.tasks.map((t) => t.toJSON()));
  }

  /** Sends every part, `args` appended to each (unless immutable). */
  applyAsync(
    args: readonly unknown[] = [],
    options: { groupId?: string } = {},
  ): GroupResult<TResult> {
    const json = this.toJSON();
    const withId = options.groupId ? withOptions(json, { task_id: options.groupId }) : json;
    return apply<GroupResult<TResult>>(this.app, withId, args);
  }

  delay(...args: unknown[]): GroupResult<TResult> {
    return this.applyAsync(args);
  }
}

/**
 * Celery's `chord`: the header runs in parallel, then the body receives the list of its
 * results (in header order). Header parts can be chains, chords and groups; the body can be a
 * chain or a group (then the result is its `GroupResult`). Redis joins natively; SQLite and
 * memory poll with `celery.chord_unlock` (no chord nested in the header); `rpc://` cannot. A
 * failing header part fails the chord: the body does not run, its errbacks run once, and its
 * result is a `ChordError`.
 */
export class Chord<R extends CanvasResult = AsyncResult> implements CanvasPart {
  readonly header: readonly CanvasPart[];
  readonly body: CanvasPart;
  constructor(header: readonly CanvasPart[], body: CanvasPart) {
    this.header = parts('chord()', header, true);
    [this.body] = parts('chord() body', [body]) as [CanvasPart];
  }

  get app(): CanvasApp {
    return this.body.app;
  }

  /** Celery's `chord` dict (`celery.chord`, `kwargs.header`, `kwargs.body`). */
  toJSON(): SignatureJSON {
    return chordJSON(
      this.header.map((h) => h.toJSON()),
      this.body.toJSON(),
    );
  }

  /** Sends the header, `args` appended to each part (unless immutable). */
  applyAsync(args: readonly unknown[] = []): R {
    return apply<R>(this.app, this.toJSON(), args);
  }

  delay(...args: unknown[]): R {
    return this.applyAsync(args);
  }
}

/**
 * `chain(a, b, c)`: Celery's `a | b | c`. The result type follows the last step: an
 * `AsyncResult` of its value, or a `GroupResult` when it is a group.
 */
export function chain<const S extends readonly [CanvasPart, ...CanvasPart[]]>(
  ...steps: S
): Chain<ResultOf<S extends readonly [...CanvasPart[], infer L] ? L : S[number]>> {
  return new Chain(steps);
}

/** `group([a, b])`: Celery's `group(a, b)`; `get()` gives one value per part. */
export function group<const P extends readonly CanvasPart[]>(tasks: P): Group<ValueOf<P[number]>> {
  return new Group(tasks);
}

/** `chord([a, b], body)`: Celery's `chord([a, b])(body)`; the result is the body's. */
export function chord<B extends CanvasPart>(
  header: readonly CanvasPart[],
  body: B,
): Chord<ResultOf<B>> {
  return new Chord(header, body);
}
