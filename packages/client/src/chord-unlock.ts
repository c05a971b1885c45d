import {
  CeleriacError,
  ErrorCodes,
  normalizeSignature,
  type ResultBackend,
  type SignatureJSON,
} from '@celeriac/core';
import { kindOf, tasksOf } from './canvas/json.js';

/** Seconds before `celery.chord_unlock` first looks at the header (Celery's `countdown=1`). */
export const CHORD_UNLOCK_COUNTDOWN_SECONDS = 1;

/**
 * A chord on a result backend without a native join (SQLite, memory) is sent as Celery's
 * `fallback_chord_unlock` sends one: first `celery.chord_unlock(group_id, body)` with the
 * header's results as tuples in `kwargs.result`, a one-second countdown, the body's queue and
 * priority; then the header parts as a group (`canvas/dispatch.ts`). The unlock task polls the
 * header's results where the worker stores them and sends the body (or fails it) once every
 * part is ready.
 *
 * Like Celery's rpc backend, `rpc://` cannot join: its results go to the client's reply
 * queue, where no worker can poll them, so a chord there rejects with
 * `CELERIAC_ERR_INVALID_STATE`.
 */
export function assertUnlockable(backend: ResultBackend): void {
  if (backend.kind === 'rpc') {
    throw new CeleriacError(
      ErrorCodes.INVALID_STATE,
      'chord(): the rpc result backend cannot join chords (results go to the client, where no worker can read them); use the Redis (redis://) or SQLite result backend for chords',
      { details: { backend: backend.kind } },
    );
  }
}

/**
 * The task id whose result stands for a header part in `celery.chord_unlock`'s poll: a task's
 * own, a chain's last step's (a nested group was unrolled already). A nested chord needs the Redis join.
 */
export function unlockResultId(part: SignatureJSON): string {
  const kind = kindOf(part);
  if (kind === 'chain') {
    const steps = tasksOf(part);
    const last = steps[steps.length - 1];
    if (last) return unlockResultId(last);
  } else if (kind === 'task' || kind === 'xmap' || kind === 'xstarmap') {
    const id = part.options['task_id'];
    if (typeof id === 'string') return id;
  }
  throw new CeleriacError(
    ErrorCodes.INVALID_OPTION,
    `chord(): a ${kind} nested in a chord header needs the Redis result backend (redis://), which joins chords natively; on other backends put tasks, chains and groups in the header`,
    { details: { part: part.task } },
  );
}

/** The `celery.chord_unlock` message Celery's `fallback_chord_unlock` sends. */
export function unlockSignature(
  groupId: string,
  body: SignatureJSON,
  headerIds: readonly string[],
): SignatureJSON {
  const options: Record<string, unknown> = {
    queue: body.options['queue'],
    countdown: CHORD_UNLOCK_COUNTDOWN_SECONDS,
    ignore_result: true,
  };
  if (typeof body.options['priority'] === 'number') options['priority'] = body.options['priority'];
  return normalizeSignature({
    task: 'celery.chord_unlock',
    args: [groupId, body],
    // `as_tuple()` of each header result; Celery also passes its interval and max_retries.
    kwargs: {
      interval: null,
      max_retries: null,
      result: headerIds.map((id) => [[id, null], null]),
    },
    options,
    immutable: true,
  });
}
