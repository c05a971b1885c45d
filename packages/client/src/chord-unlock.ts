import {
  CeleriacError,
  ErrorCodes,
  normalizeSignature,
  type ResultBackend,
  type SignatureJSON,
} from '@celeriac/core';
import type { CanvasApp, Signature } from './canvas.js';

/** Seconds before `celery.chord_unlock` first looks at the header (Celery's `countdown=1`). */
export const CHORD_UNLOCK_COUNTDOWN_SECONDS = 1;

/** A chord ready to send: ids chosen, the header's args applied. */
export interface UnlockChord {
  readonly groupId: string;
  readonly header: readonly Signature[];
  /** The header parts' task ids, in header order. */
  readonly headerIds: readonly string[];
  /** The body, with its task id set. */
  readonly body: Signature;
}

/**
 * A chord on a result backend without a native join (SQLite, memory), as Celery's
 * `fallback_chord_unlock` sends one: first `celery.chord_unlock(group_id, body)` with the
 * header's results as tuples in `kwargs.result`, a one-second countdown, the body's queue and
 * priority; then the header parts as a group. The unlock task polls the header's results
 * where the worker stores them and sends the body (or fails it) once every part is ready.
 * The parts carry no `chord` embed: no worker joins them as they end.
 *
 * Like Celery's rpc backend, `rpc://` cannot join: its results go to the client's reply
 * queue, where no worker can poll them, so a chord there rejects with
 * `CELERIAC_ERR_INVALID_STATE`.
 */
export async function sendChordWithUnlock(
  app: CanvasApp,
  backend: ResultBackend,
  chord: UnlockChord,
): Promise<void> {
  if (backend.kind === 'rpc') {
    throw new CeleriacError(
      ErrorCodes.INVALID_STATE,
      'chord(): the rpc result backend cannot join chords (results go to the client, where no worker can read them); use the Redis (redis://) or SQLite result backend for chords',
      { details: { backend: backend.kind } },
    );
  }
  const bodyJSON = chord.body.toJSON();
  await app.sendSignature(unlockSignature(chord.groupId, bodyJSON, chord.headerIds)).published;
  await Promise.all(
    chord.header.map(
      (s, groupIndex) =>
        app.sendSignature(s.set({ taskId: chord.headerIds[groupIndex]! }).toJSON(), {
          groupId: chord.groupId,
          groupIndex,
        }).published,
    ),
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
