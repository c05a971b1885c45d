import { CeleriacError, ErrorCodes } from './errors.js';
import type { Delivery } from './broker.js';
import type { ResultDocument } from './result.js';
import type { SignatureJSON } from './signature.js';
import type { TaskState } from './states.js';

/**
 * The `ResultBackend` contract stores Celery's result documents, reads one or many, and waits
 * for a task to become ready by notification (push), never by polling. A stored SUCCESS is
 * final: a later store for the same task id is ignored (a redelivered message that runs
 * twice cannot replace a result a client may already have read). Every document expires.
 */
export interface ResultBackend {
  readonly kind: ResultBackendKind;
  /** Stores a task's state document. A SUCCESS already stored for the id is never overwritten. */
  store(doc: ResultDocument, options?: StoreOptions): Promise<void>;
  get(taskId: string): Promise<ResultDocument | null>;
  getMany(taskIds: readonly string[]): Promise<(ResultDocument | null)[]>;
  /**
   * Resolves with the document once the task is in a ready state (SUCCESS, FAILURE, REVOKED).
   * Rejects with `CELERIAC_ERR_TIMEOUT` after `timeoutMs`, or with the signal's reason.
   */
  waitFor(taskId: string, options?: WaitOptions): Promise<ResultDocument>;
  /** Deletes a task's result. */
  forget(taskId: string): Promise<void>;
  /** Closes what the backend opened itself. Idempotent. */
  close(): Promise<void>;
  /**
   * For backends that deliver results to the client (`rpc://`): the queue clients name as
   * `reply_to` on the tasks they publish. Undefined for stores that anyone can read.
   */
  readonly replyTo?: string;
  /** Makes sure the `replyTo` queue exists before the first task that names it is published. */
  declareReplyQueue?(): Promise<void>;
  /**
   * Celery's native chord join (Redis: the `celery-taskset-meta-<gid>.j` / `.t` / `.s` keys):
   * records that a chord header part ended (`SUCCESS`, `FAILURE`, `REVOKED`). Resolves with a
   * {@link ChordJoin} for exactly one part of the chord, the one that completed it (and again
   * for that part only, with `repeat`, when its message is redelivered before the join is
   * released), and `undefined` for every other. Backends without it cannot join chords.
   */
  chordPartReturned?(part: ChordPart): Promise<ChordJoin | undefined>;
  /**
   * Sets a chord's header size before its parts are sent (Celery's `set_chord_size`: the
   * `celery-taskset-meta-<gid>.s` key on Redis). Backends without it cannot start chords.
   */
  setChordSize?(groupId: string, size: number): Promise<void>;
  /** Saves a group's task ids (Celery's `GroupResult.save()`: `celery-taskset-meta-<gid>`). */
  saveGroup?(groupId: string, taskIds: readonly string[]): Promise<void>;
  /** Reads a saved group's task ids (Celery's `GroupResult.restore()`); null when none is saved. */
  restoreGroup?(groupId: string): Promise<string[] | null>;
}

/** A chord header part that ended, as {@link ResultBackend.chordPartReturned} records it. */
export interface ChordPart {
  /** The header's group id (the message's `group` header). */
  readonly groupId: string;
  readonly taskId: string;
  /** The part's place in the header (`group_index`); `null` sorts last, as Celery's `+inf`. */
  readonly groupIndex: number | null;
  readonly state: TaskState;
  /** The stored result: the value, or the exception document of a failure. */
  readonly result: unknown;
  /** The chord's body (the message's `embed.chord`). */
  readonly chord: SignatureJSON;
}

/** The chord a part completed: the header's ordered results, or the part that failed it. */
export type ChordJoin = (
  | { readonly kind: 'complete'; readonly results: unknown[] }
  | { readonly kind: 'failed'; readonly taskId: string; readonly message: string }
) & {
  /**
   * This part had completed the chord before: its message was redelivered (its worker died
   * before the join's keys were released), so the body may have been sent already.
   */
  readonly repeat?: boolean;
  /** Deletes the join's keys, once the body is published (or its failure stored). */
  release(): Promise<void>;
};

export type ResultBackendKind = 'memory' | 'redis' | 'rpc' | 'sqlite';

export interface StoreOptions {
  /** How long the document lives, in milliseconds. @default the backend's `resultExpires` (one day) */
  expiresMs?: number;
  /**
   * A delivery to ack once the document is stored. A backend on the same server as the broker
   * fuses both into one round trip (see `Delivery.fusedAck`); others store, then ack.
   */
  ack?: Delivery;
  /** The task's `reply_to` (rpc backends send the result there; `''` sends nothing). */
  replyTo?: string;
  /** The task's `correlation_id` (rpc backends tag the result with it). @default the task id */
  correlationId?: string;
}

export interface WaitOptions {
  /** @default no timeout */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Celery's default `result_expires`: one day. */
export const DEFAULT_RESULT_EXPIRES_MS = 24 * 60 * 60 * 1000;

/**
 * The `CELERIAC_ERR_TIMEOUT` every backend's `waitFor` rejects with: which task, how long, the
 * last state seen, and what usually causes it.
 */
export function waitTimeoutError(
  taskId: string,
  timeoutMs: number,
  lastStatus = 'PENDING',
): CeleriacError {
  return new CeleriacError(
    ErrorCodes.TIMEOUT,
    `task ${taskId} was not ready after ${timeoutMs} ms (last state: ${lastStatus}); check that a worker consumes the task's queue and stores results in this backend, or wait longer`,
    { details: { taskId, timeoutMs, lastStatus } },
  );
}
