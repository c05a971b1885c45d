import {
  CeleriacError,
  ErrorCodes,
  TaskError,
  type ResultBackend,
  type ResultDocument,
} from '@celeriac/core';
import { isExceptionDocument } from '@celeriac/core/internal';

/**
 * What became of a task, by its stored result: still queued or running (`pending`: no result
 * yet, or RECEIVED, STARTED, RETRY or a custom state such as PROGRESS), finished, or `gone`
 * (REVOKED, REJECTED or IGNORED: it ended with no result). The shape of beat's `RunOutcome`.
 */
export type TaskOutcome =
  | { readonly state: 'pending' }
  | { readonly state: 'succeeded'; readonly result: unknown }
  | {
      readonly state: 'failed';
      readonly error: {
        readonly type: string;
        readonly message: string;
        readonly traceback?: string;
      };
    }
  | { readonly state: 'gone' };

const PENDING: TaskOutcome = Object.freeze({ state: 'pending' });
const GONE: TaskOutcome = Object.freeze({ state: 'gone' });

/** One stored result document as a {@link TaskOutcome}. */
export function taskOutcome(doc: ResultDocument | null): TaskOutcome {
  if (!doc) return PENDING;
  switch (doc.status) {
    case 'SUCCESS':
      return { state: 'succeeded', result: doc.result };
    case 'FAILURE': {
      const e = isExceptionDocument(doc.result)
        ? TaskError.fromDocument(doc.result, doc.traceback)
        : new TaskError({ type: 'Exception', message: JSON.stringify(doc.result) ?? '' });
      return {
        state: 'failed',
        error: {
          type: e.type,
          message: e.remoteMessage,
          ...(doc.traceback ? { traceback: doc.traceback } : {}),
        },
      };
    }
    case 'REVOKED':
    case 'REJECTED':
    case 'IGNORED':
      return GONE;
    default:
      return PENDING;
  }
}

/**
 * The outcomes of tasks by id, in order, read with one `getMany`. Throws
 * `CELERIAC_ERR_NO_RESULT_BACKEND` when the app stores no results, or delivers them to the
 * publishing client (`rpc://`, whose results no other process sees): nothing could be known.
 */
export async function readTaskOutcomes(
  hasBackend: boolean,
  backend: () => Promise<ResultBackend>,
  taskIds: readonly string[],
): Promise<TaskOutcome[]> {
  if (!hasBackend)
    throw new CeleriacError(
      ErrorCodes.NO_RESULT_BACKEND,
      'this app has no result backend, so what became of a task cannot be known: configure one (backend: "redis://…") to use runOutcomes (and beat\'s maxInstances)',
    );
  if (taskIds.length === 0) return [];
  const b = await backend();
  if (b.replyTo !== undefined)
    throw new CeleriacError(
      ErrorCodes.NO_RESULT_BACKEND,
      `this app's result backend (${b.kind}) delivers each result to the process that published the task, so what became of a task published by another process (or before a restart) cannot be known: use a backend every process reads (redis://, sqlite://) for runOutcomes (and beat's maxInstances)`,
      { details: { backend: b.kind } },
    );
  const docs = await b.getMany(taskIds);
  return taskIds.map((_, i) => taskOutcome(docs[i] ?? null));
}
