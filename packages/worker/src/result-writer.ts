import { performance } from 'node:perf_hooks';
import { TimeLimitExceeded, type Celeriac, type RegisteredTask } from '@celeriac/client';
import {
  ErrorCodes,
  buildResultDocument,
  encodeTaskMessage,
  isCeleriacError,
  serializerForContentType,
  type Broker,
  type Clock,
  type DeadLetterReason,
  type Delivery,
  type Logger,
  type ResultBackend,
  type StoreOptions,
  type TaskMessage,
  type TaskState,
} from '@celeriac/core';
import { exceptionToDocument, toIsoWithOffset, tracebackOf } from '@celeriac/core/internal';
import type { Outcome } from './execution.js';
import { ChordJoiner } from './chord-join.js';
import { childrenOf, recordingApp } from './children.js';
import { publishErrbacks, publishFollowUps } from './follow-ups.js';
import { ackOf, type InFlight } from './in-flight.js';
import { observeOutcome, type Observers } from './observe.js';
import { decideRetry, type RetryDecision } from './retry-policy.js';

/** Celery's document for a task name no worker has registered. */
export function notRegisteredDocument(name: string): Record<string, unknown> {
  return { exc_type: 'NotRegistered', exc_message: [name], exc_module: 'celery.exceptions' };
}

/** Celery's document for a revoked or expired task. */
function revokedDocument(reason: string): Record<string, unknown> {
  return { exc_type: 'TaskRevokedError', exc_message: [reason], exc_module: 'celery.exceptions' };
}

/** Celery's document for a result that cannot be serialized. */
function encodeErrorDocument(message: string): Record<string, unknown> {
  return { exc_type: 'EncodeError', exc_message: [message], exc_module: 'kombu.exceptions' };
}

/** What a result writer needs from its worker; the broker and backend come with `attach()`. */
export interface ResultWriterDeps {
  readonly app: Celeriac;
  readonly hostname: string;
  readonly clock: Clock;
  /** Source of the retry backoff's jitter. */
  readonly random: () => number;
  /** The worker's logger: failures to settle a message are its, not a task's. */
  readonly logger: Logger;
  /** Where tasks run, for the message of a hard time limit. */
  readonly pool: 'async' | 'threads' | 'process';
  /** Told how each run ended. */
  readonly observers?: Observers;
}

/**
 * Every state a worker stores and every ack, requeue or dead letter that goes with it.
 * A final state and its ack travel together (`backend.store(doc, { ack })`: one round trip
 * when broker and backend share a server), so a result is never lost behind an ack: if
 * storing fails, the message is requeued instead. Settling a delivery logs instead of
 * throwing: a broker outage must not crash the worker, and the broker redelivers.
 */
export class ResultWriter {
  readonly #deps: ResultWriterDeps;
  #backend: ResultBackend | undefined;
  #broker: Broker | undefined;
  readonly #chords: ChordJoiner;

  constructor(deps: ResultWriterDeps) {
    this.#deps = deps;
    this.#chords = new ChordJoiner(deps.app, deps.clock, deps.logger);
  }

  /** The broker retries go to and the backend results go to (none: results are not stored). */
  attach(broker: Broker, backend: ResultBackend | undefined): void {
    this.#broker = broker;
    this.#backend = backend;
  }

  async ack(delivery: Delivery): Promise<void> {
    try {
      await delivery.ack();
    } catch (err) {
      this.#unsettled(err, 'ack');
    }
  }

  async requeue(delivery: Delivery): Promise<void> {
    try {
      await delivery.requeue();
    } catch (err) {
      this.#unsettled(err, 'requeue');
    }
  }

  async deadLetter(delivery: Delivery, reason: DeadLetterReason): Promise<void> {
    try {
      await delivery.deadLetter(reason);
    } catch (err) {
      this.#unsettled(err, 'dead-letter');
    }
  }

  #unsettled(err: unknown, what: string): void {
    this.#deps.logger.error({ err }, `could not ${what} a message; the broker will redeliver it`);
  }

  /** Gives up on a run (shutdown timeout, abort): requeued once, its signal aborted, its timers stopped. */
  abandon(entry: InFlight, reason: Error): Promise<void> {
    if (entry.abandoned) return Promise.resolve();
    entry.abandoned = true;
    entry.execution?.abandon();
    entry.controller?.abort(reason);
    return this.requeue(entry.delivery);
  }

  /** Stores the final state (acking with it), or only acks when results are ignored. */
  finish(
    msg: TaskMessage,
    ignoreResult: boolean,
    status: TaskState,
    result: unknown,
    traceback: string | null,
    log: Logger,
    ack: Delivery | undefined,
  ): Promise<void> {
    if (ChordJoiner.isPart(msg, status))
      return this.#finishPart(msg, ignoreResult, status, result, traceback, log, ack);
    if (ignoreResult) return ack ? this.ack(ack) : Promise.resolve();
    return this.store(msg, status, result, traceback, log, ack);
  }

  /**
   * A chord header part that ended: its result is stored, then it tells its chord (which may
   * publish the body), and only then is it acked, as Celery's `acks_late` acks after
   * `on_chord_part_return`. A worker that dies in between leaves the part unacked: it is
   * redelivered, runs again and is counted once (the join skips a task id it has).
   */
  async #finishPart(
    msg: TaskMessage,
    ignoreResult: boolean,
    status: TaskState,
    result: unknown,
    traceback: string | null,
    log: Logger,
    ack: Delivery | undefined,
    errbacks = false,
  ): Promise<void> {
    if (!ignoreResult && !(await this.#store(msg, status, result, traceback, log))) {
      if (ack) await this.requeue(ack);
      return;
    }
    await this.#chords.partReturned(this.#backend, msg, status, result, log);
    if (ack) await this.ack(ack);
    // Celery's order (mark_as_failure): the chord hears of the part before its errbacks.
    if (errbacks) await publishErrbacks(this.#deps.app, msg, log);
  }

  /** REVOKED with Celery's TaskRevokedError(`reason`), or only the ack when results are ignored. */
  revoked(
    msg: TaskMessage,
    ignoreResult: boolean,
    reason: 'expired' | 'revoked' | 'terminated',
    log: Logger,
    ack: Delivery | undefined,
  ): Promise<void> {
    return this.finish(msg, ignoreResult, 'REVOKED', revokedDocument(reason), null, log, ack);
  }

  /**
   * Records how a run ended: SUCCESS (after its chain and callbacks are published: a crash
   * then means a rerun, never a lost step), FAILURE, REVOKED, a retry, or a requeue when a
   * pool member died under a `rejectOnWorkerLost` task.
   */
  record(
    entry: InFlight,
    task: RegisteredTask,
    msg: TaskMessage,
    outcome: Outcome,
    ignoreResult: boolean,
    log: Logger,
    startedMs: number,
  ): Promise<void> {
    const { headers } = msg;
    const ack = ackOf(entry);
    const seen = this.#deps.observers;
    const queue = entry.delivery.queue;
    const runtime = seen?.active ? (performance.now() - startedMs) / 1000 : 0;
    if (seen?.active && outcome.kind !== 'threw')
      observeOutcome(seen, task, msg, queue, outcome, runtime);
    switch (outcome.kind) {
      case 'returned': {
        const logger = this.#deps.logger;
        // Bindings inline rather than a child logger per task: this line runs for every task.
        if (logger.isLevelEnabled?.('info') !== false) {
          logger.info(
            { task: headers.task, taskId: headers.id },
            `Task ${headers.task}[${headers.id}] succeeded in ${secondsSince(startedMs)}s`,
          );
        }
        if (msg.embed.chain || msg.embed.callbacks)
          return this.#succeedAfterFollowUps(msg, outcome.value, ignoreResult, log, ack);
        return this.finish(msg, ignoreResult, 'SUCCESS', outcome.value, null, log, ack);
      }
      case 'revoked':
        log.warn(`Task ${headers.task}[${headers.id}] revoked while running; terminated`);
        return this.revoked(msg, ignoreResult, 'terminated', log, ack);
      case 'timeLimit': {
        const { pool } = this.#deps;
        const fate =
          pool === 'async'
            ? 'abandoned (the async pool cannot stop running JavaScript)'
            : `stopped (its ${pool === 'threads' ? 'thread' : 'child process'} was killed)`;
        log.error(
          `Task ${headers.task}[${headers.id}] exceeded its hard time limit of ${outcome.seconds}s; ${fate}`,
        );
        const err = new TimeLimitExceeded(outcome.seconds);
        return this.#failure(msg, ignoreResult, exceptionToDocument(err), null, log, ack);
      }
      case 'workerLost': {
        // The pool logged the death. Celery's reject_on_worker_lost: requeue only what is not acked yet.
        if (task.options.rejectOnWorkerLost === true && ack) {
          log.warn(
            `Task ${headers.task}[${headers.id}] lost its worker; requeued (rejectOnWorkerLost)`,
          );
          return this.requeue(ack);
        }
        const doc = exceptionToDocument(outcome.error);
        return this.#failure(msg, ignoreResult, doc, null, log, ack);
      }
      case 'threw': {
        const error = outcome.error;
        const decision = decideRetry(task.options, error, headers, {
          now: this.#deps.clock.now(),
          random: this.#deps.random,
        });
        switch (decision.kind) {
          case 'retry':
            seen?.retried(msg, queue, decision.exc);
            return this.#retry(entry, msg, decision, ignoreResult, log);
          case 'exceeded':
            log.warn(
              { err: decision.error, retries: headers.retries },
              `Task ${headers.task}[${headers.id}] ran out of retries (${String(decision.maxRetries)})`,
            );
            seen?.failed(msg, queue, decision.error, runtime);
            return this.#failed(msg, ignoreResult, decision.error, log, ack);
          case 'fail':
            log.warn(
              { err: error },
              `Task ${headers.task}[${headers.id}] raised an error after ${secondsSince(startedMs)}s`,
            );
            seen?.failed(msg, queue, error, runtime);
            return this.#failed(msg, ignoreResult, error, log, ack);
        }
      }
    }
  }

  async #succeedAfterFollowUps(
    msg: TaskMessage,
    value: unknown,
    ignoreResult: boolean,
    log: Logger,
    ack: Delivery | undefined,
  ): Promise<void> {
    // Most tasks have no chain step or callback: no recording app, no extra await for them.
    const { chain, callbacks } = msg.embed;
    if ((chain && chain.length > 0) || (callbacks && callbacks.length > 0))
      await publishFollowUps(recordingApp(this.#deps.app, msg.headers), msg, value, log);
    await this.finish(msg, ignoreResult, 'SUCCESS', value, null, log, ack);
  }

  /** FAILURE with the error and its traceback. */
  #failed(
    msg: TaskMessage,
    ignoreResult: boolean,
    error: unknown,
    log: Logger,
    ack: Delivery | undefined,
  ): Promise<void> {
    return this.#failure(
      msg,
      ignoreResult,
      exceptionToDocument(error),
      tracebackOf(error),
      log,
      ack,
    );
  }

  /** A final FAILURE, then its errbacks once: not when storing failed and the task was requeued. */
  async #failure(
    msg: TaskMessage,
    ignoreResult: boolean,
    doc: Record<string, unknown>,
    traceback: string | null,
    log: Logger,
    ack: Delivery | undefined,
  ): Promise<void> {
    const errbacks = msg.embed.errbacks !== null;
    if (ChordJoiner.isPart(msg, 'FAILURE')) {
      return this.#finishPart(msg, ignoreResult, 'FAILURE', doc, traceback, log, ack, errbacks);
    }
    let stored = true;
    if (ignoreResult) {
      if (ack) await this.ack(ack);
    } else stored = await this.#store(msg, 'FAILURE', doc, traceback, log, ack);
    if (stored && errbacks) await publishErrbacks(this.#deps.app, msg, log);
  }

  /**
   * Celery's retry: the same task id goes back to the broker with `retries + 1` and an ETA,
   * RETRY is stored with the error, and this delivery is acked, in that order (a crash between
   * the steps means a rerun, never a lost task).
   */
  async #retry(
    entry: InFlight,
    msg: TaskMessage,
    decision: Extract<RetryDecision, { kind: 'retry' }>,
    ignoreResult: boolean,
    log: Logger,
  ): Promise<void> {
    const { headers } = msg;
    const ack = ackOf(entry);
    const eta = toIsoWithOffset(new Date(decision.etaMs));
    const next: TaskMessage = {
      ...msg,
      headers: { ...headers, retries: headers.retries + 1, eta },
    };
    try {
      const wire = encodeTaskMessage(next, serializerForContentType(msg.contentType).name);
      await this.#broker?.publish(
        entry.delivery.queue,
        wire,
        decision.delayMs > 0 ? { deliverAt: decision.etaMs } : {},
      );
    } catch (err) {
      log.error({ err }, 'could not publish the retry; requeueing the message instead');
      if (ack) await this.requeue(ack);
      return;
    }
    log.info(
      { retries: headers.retries + 1, eta },
      `Task ${headers.task}[${headers.id}] retry scheduled`,
    );
    const exc = decision.exc;
    await this.finish(
      msg,
      ignoreResult,
      'RETRY',
      exceptionToDocument(exc),
      tracebackOf(exc),
      log,
      ack,
    );
  }

  /**
   * Stores a state document, acking `ack` in the same round trip when the backend can. If the
   * result cannot be encoded, stores Celery's EncodeError instead. If storing fails, the
   * message is requeued: a result is never lost behind an ack.
   */
  store(...args: StoreArgs): Promise<void> {
    return this.#store(...args).then(ignore);
  }

  /** `store`, resolving false when storing failed and the message was requeued. */
  async #store(...[msg, status, result, traceback, log, ack]: StoreArgs): Promise<boolean> {
    const backend = this.#backend;
    if (!backend) {
      if (ack) await this.ack(ack);
      return true;
    }
    // rpc backends send the result to the client's reply queue; others ignore these.
    const storeOptions: StoreOptions = {
      replyTo: msg.properties.reply_to ?? '',
      correlationId: msg.properties.correlation_id ?? msg.headers.id,
    };
    if (ack) storeOptions.ack = ack;
    const doc = this.#document(msg, status, result, traceback);
    if (this.#deps.app.options.resultExtended) {
      Object.assign(doc, {
        name: msg.headers.task,
        args: msg.args,
        kwargs: msg.kwargs,
        worker: this.#deps.hostname,
        retries: msg.headers.retries,
        queue: ack?.queue ?? '',
      });
    }
    try {
      await backend.store(doc, storeOptions);
      return true;
    } catch (err) {
      if (isCeleriacError(err, ErrorCodes.SERIALIZATION)) {
        log.error({ err }, 'the task result cannot be serialized; storing EncodeError');
        const failure = this.#document(msg, 'FAILURE', encodeErrorDocument(err.message), null);
        try {
          await backend.store(failure, storeOptions);
          return true;
        } catch (err2) {
          err = err2;
        }
      }
      log.error({ err }, 'storing the result failed; requeueing the message');
      if (ack) await this.requeue(ack);
      return false;
    }
  }

  #document(
    msg: TaskMessage,
    status: TaskState,
    result: unknown,
    traceback: string | null,
  ): ReturnType<typeof buildResultDocument> {
    return buildResultDocument({
      taskId: msg.headers.id,
      status,
      result,
      traceback,
      children: childrenOf(msg.headers),
      dateDone: new Date(this.#deps.clock.now()),
      groupId: msg.headers.group,
      parentId: msg.headers.parent_id,
    });
  }
}

function ignore(): void {}

/** What `store` takes: the message, its state, result and traceback, a logger, the ack to fuse. */
type StoreArgs = [
  msg: TaskMessage,
  status: TaskState,
  result: unknown,
  traceback: string | null,
  log: Logger,
  ack?: Delivery,
];

function secondsSince(startedMs: number): string {
  return ((performance.now() - startedMs) / 1000).toFixed(6);
}
