import type { Celeriac, TaskContext } from '@celeriac/client';
import {
  PROPAGATE_STATES,
  READY_STATES,
  isSignatureJSON,
  normalizeSignature,
  type ResultDocument,
  type SignatureJSON,
} from '@celeriac/core';
import { excRepr } from '@celeriac/core/internal';
import { failChordBody, sendChordBody } from '../chord-body.js';
import { replaceChildren } from '../children.js';

/** Seconds between two looks at a chord's header (Celery's `result_chord_retry_interval`). */
export const CHORD_RETRY_INTERVAL_SECONDS = 1;

/** A task argument Celery sends malformed: a TypeError, as Python's own call would raise. */
function typeError(message: string): Error {
  const err = new Error(message);
  err.name = 'TypeError';
  return err;
}

/** A Python parameter given by position or by name (`def f(group_id, callback, …)`). */
function param(ctx: TaskContext, index: number, name: string): unknown {
  return index < ctx.args.length ? ctx.args[index] : ctx.kwargs[name];
}

function signatureArg(value: unknown, what: string): SignatureJSON {
  if (!isSignatureJSON(value)) throw typeError(`${what} must be a signature`);
  return normalizeSignature(value);
}

/** A header result from its tuple (Celery's `result_from_tuple`): a task, or a group of them. */
type Node = string | Node[];

function nodeOf(tuple: unknown): Node {
  if (!Array.isArray(tuple) || tuple.length !== 2) throw typeError('result must be result tuples');
  const [head, nodes] = tuple as [unknown, unknown];
  const id = Array.isArray(head) ? (head[0] as unknown) : head;
  if (Array.isArray(nodes)) return nodes.map(nodeOf);
  if (typeof id !== 'string') throw typeError('result must be result tuples');
  return id;
}

function leaves(nodes: readonly Node[], into: string[] = []): string[] {
  for (const n of nodes) {
    if (typeof n === 'string') into.push(n);
    else leaves(n, into);
  }
  return into;
}

/**
 * Celery's `GroupResult.join(propagate=True)` over results that are all ready: their values
 * in header order (a group's as a list), or the first failed one, in that order.
 */
function join(
  nodes: readonly Node[],
  docs: ReadonlyMap<string, ResultDocument | null>,
): { values: unknown[] } | { failedId: string; error: unknown } {
  const values: unknown[] = [];
  for (const n of nodes) {
    if (typeof n !== 'string') {
      const inner = join(n, docs);
      if (!('values' in inner)) return inner;
      values.push(inner.values);
      continue;
    }
    const doc = docs.get(n);
    if (doc && PROPAGATE_STATES.has(doc.status)) return { failedId: n, error: doc.result };
    values.push(doc?.result ?? null);
  }
  return { values };
}

/**
 * Celery's `celery.chord_unlock(group_id, callback, interval=None, max_retries=None,
 * result=None)`: the chord join of result backends without a native one. It reads the header's
 * results (`result`, their tuples) from this worker's result backend; while one is not ready
 * it retries itself after `interval` seconds (1 by default), forever unless `max_retries` says
 * otherwise. Once all are: with every part a success it sends the body with their values in
 * header order; with a failed part, the body's errbacks run once and its result is
 * `ChordError('Dependency <id> raised …')`, as Celery's `chord_error_from_stack`.
 */
export function chordUnlock(app: Celeriac) {
  return async function (this: TaskContext): Promise<void> {
    const groupId = param(this, 0, 'group_id');
    if (typeof groupId !== 'string') throw typeError('celery.chord_unlock needs "group_id"');
    const body = signatureArg(param(this, 1, 'callback'), 'celery.chord_unlock "callback"');
    const interval = param(this, 2, 'interval') ?? CHORD_RETRY_INTERVAL_SECONDS;
    const maxRetries = param(this, 3, 'max_retries') ?? null;
    const tuples = param(this, 4, 'result');
    if (typeof interval !== 'number') throw typeError('"interval" must be a number of seconds');
    if (maxRetries !== null && typeof maxRetries !== 'number')
      throw typeError('"max_retries" must be a number or None');
    if (!Array.isArray(tuples)) throw typeError('celery.chord_unlock needs "result", a list');
    const nodes = tuples.map(nodeOf);
    const ids = leaves(nodes);
    const backend = await app.resultBackend();
    let docs: (ResultDocument | null)[];
    try {
      docs = await backend.getMany(ids);
    } catch (exc) {
      return this.retry({ countdown: interval, maxRetries, exc });
    }
    if (!docs.every((d) => d !== null && READY_STATES.has(d.status)))
      return this.retry({ countdown: interval, maxRetries });
    const host = { app, backend, clock: app.clock, logger: this.logger };
    const joined = join(nodes, new Map(ids.map((id, i) => [id, docs[i] ?? null])));
    const rootId = this.rootId ?? this.id;
    if (!('values' in joined)) {
      const reason = `Dependency ${joined.failedId} raised ${excRepr(joined.error)}`;
      this.logger.error({ groupId }, `Chord ${groupId} raised: ChordError(${reason})`);
      await failChordBody(host, body, this.rootId, reason);
      return;
    }
    const own = (k: string): string | undefined =>
      typeof body.options[k] === 'string' ? body.options[k] : undefined;
    await sendChordBody(
      host,
      body,
      joined.values,
      { groupId, parentId: own('parent_id') ?? this.id, rootId: own('root_id') ?? rootId },
      this.logger,
    );
  };
}

/**
 * Celery's `celery.group(tasks, result, group_id, partial_args, add_to_parent=True)`, which
 * Celery 5 no longer sends but still runs for old clients: sends each task with `group_id`
 * (the partial args prepended to a mutable one's) and returns `result`, the group's tuple,
 * which is also this task's one child (Celery's `add_trail`), the parts not.
 */
export function celeryGroup(app: Celeriac) {
  return async function (this: TaskContext): Promise<unknown> {
    const tasks = param(this, 0, 'tasks');
    const result = param(this, 1, 'result');
    const groupId = param(this, 2, 'group_id');
    const partialArgs = param(this, 3, 'partial_args') ?? [];
    const addToParent = param(this, 4, 'add_to_parent') ?? true;
    if (!Array.isArray(tasks)) throw typeError('celery.group needs "tasks", a list');
    if (typeof groupId !== 'string') throw typeError('celery.group needs "group_id"');
    if (!Array.isArray(partialArgs)) throw typeError('"partial_args" must be a list');
    const sent = tasks.map((t) => {
      const sig = signatureArg(t, 'each of celery.group "tasks"');
      const args = sig.immutable ? sig.args : [...(partialArgs as unknown[]), ...sig.args];
      return app.sendSignature({ ...sig, args, options: { ...sig.options, group_id: groupId } });
    });
    await Promise.all(sent.map((r) => r.published));
    replaceChildren(this.headers, addToParent === false ? [] : [result]);
    return result;
  };
}
