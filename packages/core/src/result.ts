import { toIsoWithOffset } from './serializers.js';
import type { TaskState } from './states.js';

/**
 * The result document Celery's key-value backends store (`celery-task-meta-<id>`):
 * `{status, result, traceback, children, date_done, task_id}`, plus `group_id` and
 * `parent_id` when set, and `name, args, kwargs, worker, retries, queue` for extended results.
 * For FAILURE, RETRY and REVOKED, `result` is an exception document.
 */
export interface ResultDocument {
  status: TaskState;
  result: unknown;
  traceback: string | null;
  children: unknown[];
  date_done: string | null;
  task_id: string;
  group_id?: string | null;
  parent_id?: string | null;
  name?: string | null;
  args?: unknown[] | null;
  kwargs?: Record<string, unknown> | null;
  worker?: string | null;
  retries?: number | null;
  queue?: string | null;
  [extra: string]: unknown;
}

export interface BuildResultOptions {
  taskId: string;
  status: TaskState;
  result?: unknown;
  traceback?: string | null;
  children?: unknown[] | undefined;
  /** When the task reached this state; ready states get a `date_done`. */
  dateDone?: Date | null;
  groupId?: string | null;
  parentId?: string | null;
  extended?: {
    name: string;
    args: unknown[];
    kwargs: Record<string, unknown>;
    worker: string;
    retries: number;
    queue: string;
  };
}

/**
 * Builds a result document in Celery's key order and shape (`task_id` comes last, as Celery
 * adds it). Built field by field: a worker builds one per task, and the conditional spreads
 * it was written with made a throwaway object for each absent field.
 */
export function buildResultDocument(o: BuildResultOptions): ResultDocument {
  const doc: ResultDocument = {
    status: o.status,
    result: o.result ?? null,
    traceback: o.traceback ?? null,
    children: o.children ?? [],
    date_done: o.dateDone ? toIsoWithOffset(o.dateDone) : null,
  } as ResultDocument;
  if (o.groupId) doc.group_id = o.groupId;
  if (o.parentId) doc.parent_id = o.parentId;
  if (o.extended) Object.assign(doc, o.extended);
  doc.task_id = o.taskId;
  return doc;
}
