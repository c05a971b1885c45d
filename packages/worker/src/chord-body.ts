import type { Celeriac } from '@celeriac/client';
import {
  buildResultDocument,
  isSignatureJSON,
  type Clock,
  type Logger,
  type ResultBackend,
  type SignatureJSON,
} from '@celeriac/core';
import { sendErrbacks } from './follow-ups.js';

/** Celery's document for a `celery.exceptions.ChordError`. */
export function chordErrorDocument(message: string): Record<string, unknown> {
  return { exc_type: 'ChordError', exc_message: [message], exc_module: 'celery.exceptions' };
}

/** What finishing a chord needs: the app that sends, the backend that stores, the worker's clock and logger. */
export interface ChordHost {
  readonly app: Celeriac;
  readonly backend: ResultBackend;
  readonly clock: Clock;
  /** Where a failed errback publish is logged. */
  readonly logger: Logger;
}

/**
 * Celery's `chord_error_from_stack`: the body does not run; its `link_error` errbacks are sent
 * once with the body's task id, then FAILURE with `ChordError(message)` is stored on that id.
 * Both chord joins use it: the Redis one (the part that completed the chord) and
 * `celery.chord_unlock` (the polling join of other backends).
 */
export async function failChordBody(
  host: ChordHost,
  body: SignatureJSON,
  rootId: string | null,
  message: string,
): Promise<void> {
  const { app, backend } = host;
  const bodyId = typeof body.options['task_id'] === 'string' ? body.options['task_id'] : null;
  if (!bodyId) return; // Celery cannot fail a body without an id either
  const errbacks = body.options['link_error'];
  const list = (Array.isArray(errbacks) ? errbacks : []).filter(isSignatureJSON);
  await sendErrbacks(app, list, bodyId, rootId ?? bodyId, host.logger);
  await backend.store(
    buildResultDocument({
      taskId: bodyId,
      status: 'FAILURE',
      result: chordErrorDocument(message),
      traceback: null,
      dateDone: new Date(host.clock.now()),
    }),
  );
}

/**
 * Publishes a completed chord's body with the header's results (Celery's
 * `callback.delay(results)`); when that publish fails, fails the body with
 * `ChordError('Callback error: …')`, as Celery does.
 */
export async function sendChordBody(
  host: ChordHost,
  body: SignatureJSON,
  results: unknown[],
  ids: { readonly groupId: string; readonly parentId?: string; readonly rootId: string | null },
  log: Logger,
): Promise<void> {
  try {
    await host.app.sendSignature(body, {
      parentResult: results,
      ...(ids.parentId === undefined ? {} : { parentId: ids.parentId }),
      ...(ids.rootId === null ? {} : { rootId: ids.rootId }),
    }).published;
  } catch (err) {
    log.error({ err, groupId: ids.groupId }, `Chord callback for ${ids.groupId} raised`);
    await failChordBody(host, body, ids.rootId, `Callback error: ${String(err)}`);
  }
}
