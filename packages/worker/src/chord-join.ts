import type { Celeriac } from '@celeriac/client';
import {
  READY_STATES,
  type ChordJoin,
  type Clock,
  type Logger,
  type ResultBackend,
  type SignatureJSON,
  type TaskMessage,
  type TaskState,
} from '@celeriac/core';
import { failChordBody, sendChordBody } from './chord-body.js';

/**
 * The worker's side of Celery's chord join (`on_chord_part_return`, called by Celery's
 * `mark_as_done` / `mark_as_failure` / `mark_as_revoked` once a header part's result is
 * stored): tells the result backend this part ended and, when it completed the chord,
 * publishes the body with the header's results (`callback.delay(results)`). When a part
 * failed, the body does not run: as Celery's `chord_error_from_stack`, the body's
 * `link_error` errbacks are sent with the body's task id and a `ChordError` is stored as the
 * body's result. Needs a backend that joins chords (`chordPartReturned`: Redis); on others
 * it logs once and the chord does not complete.
 */
export class ChordJoiner {
  readonly #app: Celeriac;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #warned = false;

  constructor(app: Celeriac, clock: Clock, logger: Logger) {
    this.#app = app;
    this.#clock = clock;
    this.#logger = logger;
  }

  /** True when the message is a chord header part and `status` ends it. */
  static isPart(msg: TaskMessage, status: TaskState): boolean {
    return msg.embed.chord !== null && msg.headers.group !== null && READY_STATES.has(status);
  }

  /** Records the part; publishes the body (or fails it) when the part completed the chord. */
  async partReturned(
    backend: ResultBackend | undefined,
    msg: TaskMessage,
    status: TaskState,
    result: unknown,
    log: Logger,
  ): Promise<void> {
    const body = msg.embed.chord;
    const groupId = msg.headers.group;
    if (!body || !groupId) return;
    if (!backend?.chordPartReturned) {
      if (!this.#warned) {
        this.#warned = true;
        this.#logger.warn(
          { backend: backend?.kind ?? 'none' },
          'a chord header task ran, but joining a chord needs the Redis result backend; its body will not run',
        );
      }
      return;
    }
    let join: ChordJoin | undefined;
    try {
      join = await backend.chordPartReturned({
        groupId,
        taskId: msg.headers.id,
        groupIndex: msg.headers.group_index,
        state: status,
        result,
        chord: body,
      });
    } catch (err) {
      log.error(
        { err, groupId },
        `could not record the chord part; chord ${groupId} will not complete`,
      );
      return;
    }
    if (!join) return;
    const host = { app: this.#app, backend, clock: this.#clock, logger: this.#logger };
    try {
      if (join.repeat && (await this.#bodySent(backend, body, groupId, log))) return;
      if (join.kind === 'failed') {
        log.error({ groupId }, `Chord ${groupId} raised: ChordError(${join.message})`);
        await failChordBody(host, body, msg.headers.root_id, join.message);
        return;
      }
      const rootId = msg.headers.root_id ?? msg.headers.id;
      await sendChordBody(
        host,
        body,
        join.results,
        { groupId, parentId: msg.headers.id, rootId },
        log,
      );
    } finally {
      await join.release().catch((err: unknown) => {
        log.warn({ err, groupId }, 'could not delete the chord join keys; they expire');
      });
    }
  }

  /**
   * For the completing part, redelivered before the join was released: true when the body's
   * task id has a stored state (it ran, runs, or failed with its ChordError), so the dead
   * worker had sent it and it is not sent again. Without a stored state (never sent, or still
   * waiting in its queue: this cannot tell) the body is sent again: at least once.
   */
  async #bodySent(
    backend: ResultBackend,
    body: SignatureJSON,
    groupId: string,
    log: Logger,
  ): Promise<boolean> {
    const bodyId = typeof body.options['task_id'] === 'string' ? body.options['task_id'] : null;
    let state: string | undefined;
    if (bodyId) {
      try {
        state = (await backend.get(bodyId))?.status;
      } catch (err) {
        log.warn({ err, groupId }, 'could not read the chord body state; sending it again');
      }
    }
    const what = `the part that completed chord ${groupId} was redelivered`;
    if (state)
      log.warn({ groupId, bodyId }, `${what}; its body is ${state} already: not sent again`);
    else log.warn({ groupId, bodyId }, `${what}; its body has no state yet: sending it again`);
    return state !== undefined;
  }
}
