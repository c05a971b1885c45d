import { AsyncResult, resultTuples, type ResultSource } from './async-result.js';
import { GroupResult } from './group-result.js';

/**
 * A result as Celery's `as_tuple()` writes it, in JSON: a task's `[[id, parent], null]`, a
 * group's `[[id, parent], [part, …]]`, where `parent` is the parent's tuple or null. The form
 * of a result document's `children`, of `celery.chord_unlock`'s `result` and of a saved group.
 */
export type ResultTuple = [[string, ResultTuple | null] | string, ResultTuple[] | null];

function isTuple(value: unknown): value is ResultTuple {
  if (!Array.isArray(value) || value.length !== 2) return false;
  const [head, nodes] = value as unknown[];
  const headOk =
    typeof head === 'string' ||
    (Array.isArray(head) && head.length === 2 && typeof head[0] === 'string');
  return headOk && (nodes === null || Array.isArray(nodes));
}

/**
 * Celery's `result_from_tuple`: an `AsyncResult` for a task's tuple (with its `parent`), a
 * `GroupResult` for a group's. Returns undefined for a value that is not a result tuple.
 */
export function resultFromTuple(
  tuple: unknown,
  source: ResultSource,
): AsyncResult | GroupResult | undefined {
  if (!isTuple(tuple)) return undefined;
  const [head, nodes] = tuple;
  const [id, parentTuple] = typeof head === 'string' ? [head, null] : head;
  if (nodes !== null) {
    const parts = nodes
      .map((n) => resultFromTuple(n, source))
      .filter((r): r is AsyncResult => r instanceof AsyncResult);
    return new GroupResult(id, parts, source);
  }
  const result = new AsyncResult(id, source);
  const parent = parentTuple === null ? undefined : resultFromTuple(parentTuple, source);
  if (parent) result.parent = parent;
  return result;
}

/** Celery's `as_tuple()` of a result: what `resultFromTuple` reads back. */
export function resultAsTuple(result: AsyncResult | GroupResult): ResultTuple {
  if (result instanceof GroupResult) return [[result.id, null], result.results.map(resultAsTuple)];
  const parent = result.parent;
  const parentTuple =
    parent instanceof AsyncResult || parent instanceof GroupResult ? resultAsTuple(parent) : null;
  return [[result.id, parentTuple], null];
}

resultTuples.fromTuple = resultFromTuple;
