import { parseRateLimit, type RateLimit, type RegisteredTask } from '@celeriac/client';
import {
  CeleriacError,
  ErrorCodes,
  decodeTaskMessage,
  isCeleriacError,
  type Broker,
  type Clock,
  type Coordination,
  type DeadLetterReason,
  type Delivery,
  type Logger,
  type Revocation,
  type RevocationWatch,
  type TaskMessage,
} from '@celeriac/core';
import { MAX_REVOKED, messageEta, messageExpires } from '@celeriac/core/internal';
import type { InFlight } from './in-flight.js';
import type { Observers } from './observe.js';
import { notRegisteredDocument, type ResultWriter } from './result-writer.js';
import { taskLogger } from './run-context.js';
import { undecodable } from './undecodable.js';

/** Widening of rate-limit slots, against late timers. */
export const RATE_GUARD = 1.05;

/** Messages due this soon are held in memory rather than sent back to the broker's delay store. */
export const HOLD_ETA_IN_MEMORY_MS = 1000;

/** A message whose rate-limit slot has come: it starts before new deliveries. */
export interface Approved {
  readonly delivery: Delivery;
  readonly msg: TaskMessage;
  readonly task: RegisteredTask;
}

/** What admission needs from its worker. */
export interface AdmissionDeps {
  /** The tasks this worker knows (the app's). */
  readonly tasks: ReadonlyMap<string, RegisteredTask>;
  /** The worker's logger: task loggers are its children. */
  readonly logger: Logger;
  readonly clock: Clock;
  readonly writer: ResultWriter;
  /** Runs an admitted message in the slot it holds. */
  run(entry: InFlight, task: RegisteredTask, msg: TaskMessage, log: Logger): Promise<void>;
  /** False once the worker is stopping: a message held for its ETA goes back to its queue. */
  accepting(): boolean;
  /** A parked message became ready: fill the free slots. */
  wake(): void;
  /** Revoked with terminate: end the run of this task id, if one is running. */
  terminate(taskId: string): void;
  /** Told of each message received, revoked or rejected here. */
  readonly observers?: Observers;
}

/**
 * Decides whether a delivered message runs here, now. In order: a message that cannot be
 * decoded, or names a task this worker does not know, goes to dead letters (with a FAILURE
 * stored for its id when its headers give one); an expired one is not run (REVOKED is
 * stored, the message acked); one that came before its ETA waits (a near one in memory, a far
 * one back in the broker's delay store); a revoked one is not run (REVOKED, acked); a
 * rate-limited one gives its concurrency slot back until its reserved start slot. A message that waited is checked again for expiry and revocation before it runs.
 *
 * Revocations come from a local copy kept current by push, so checking one costs nothing per
 * task; a rate limit costs one round trip per rate-limited task.
 */
export class Admission {
  readonly #deps: AdmissionDeps;
  readonly #revoked = new Map<string, Revocation>();
  readonly #rateLimits = new Map<string, RateLimit | null>();
  /** Approved messages, in the order their slots came. */
  readonly #ready: Approved[] = [];
  /** Deliveries waiting for a rate-limit slot, held by a timer (no concurrency slot). */
  readonly #parked = new Map<Delivery, { timer: NodeJS.Timeout; msg: TaskMessage }>();
  /** Messages held for a near ETA (each in its slot), and how to wake them. */
  readonly #held = new Map<
    InFlight,
    { timer: NodeJS.Timeout; wake: () => void; msg: TaskMessage; eta: number }
  >();
  #broker: Broker | undefined;
  #coordination: Coordination | undefined;
  #watch: RevocationWatch | undefined;

  constructor(deps: AdmissionDeps) {
    this.#deps = deps;
  }

  /** Watches revocations (those in force now included) and takes the broker ETAs go back to. */
  async start(broker: Broker, coordination: Coordination): Promise<void> {
    this.#broker = broker;
    this.#coordination = coordination;
    this.#watch = await coordination.watchRevocations((r) => this.revoke(r));
    for (const r of this.#watch.current) this.#revoked.set(r.id, r);
  }

  /** The next approved message, if any. */
  nextReady(): Approved | undefined {
    return this.#ready.shift();
  }

  /** Decoded messages waiting for their start (approved, or parked for a rate-limit slot). */
  waiting(): { delivery: Delivery; msg: TaskMessage }[] {
    return [
      ...this.#ready.map(({ delivery, msg }) => ({ delivery, msg })),
      ...[...this.#parked].map(([delivery, { msg }]) => ({ delivery, msg })),
    ];
  }

  /** Messages held in memory for their near ETA (epoch ms). */
  scheduled(): { delivery: Delivery; msg: TaskMessage; eta: number }[] {
    return [...this.#held].map(([entry, { msg, eta }]) => ({ delivery: entry.delivery, msg, eta }));
  }

  /** The revocations in force (expired ones are dropped). */
  revocations(): Revocation[] {
    const now = this.#deps.clock.now();
    return [...this.#revoked.values()].filter((r) => r.expiresAt > now);
  }

  /** Overrides a task's rate limit (`null`: none), as Celery's `rate_limit` control does. */
  setRateLimit(taskName: string, limit: RateLimit | null): void {
    this.#rateLimits.set(taskName, limit);
  }

  /** Records a revocation (at most `MAX_REVOKED`, the oldest forgotten first). */
  revoke(r: Revocation): void {
    this.#revoked.set(r.id, r);
    if (this.#revoked.size > MAX_REVOKED) {
      const oldest = this.#revoked.keys().next().value;
      if (oldest !== undefined) this.#revoked.delete(oldest);
    }
    if (r.terminate) this.#deps.terminate(r.id);
  }

  /**
   * A delivery fresh from the broker: decoded, its task found, then every check. A message
   * that cannot be decoded or names an unknown task goes to dead letters with the reason.
   */
  receive(entry: InFlight): Promise<void> {
    const { delivery } = entry;
    let msg: TaskMessage;
    try {
      msg = decodeTaskMessage(delivery.message);
    } catch (err) {
      const code = isCeleriacError(err) ? err.code : ErrorCodes.MALFORMED_MESSAGE;
      const message = (err as Error).message;
      this.#deps.logger.error(
        { err, queue: delivery.queue, deliveryTag: delivery.deliveryTag },
        'malformed message sent to dead letters',
      );
      return this.#undecodable(delivery, err, { code, message });
    }
    const log = taskLogger(this.#deps.logger, msg);
    const task = this.#deps.tasks.get(msg.headers.task);
    if (!task) return this.#unknownTask(delivery, msg, log);
    this.#deps.observers?.received(msg, delivery.queue);
    return this.#check(entry, task, msg, log, true);
  }

  /** A message that waited for its ETA or rate-limit slot: expiry and revocation again. */
  readmit(entry: InFlight, task: RegisteredTask, msg: TaskMessage, log: Logger): Promise<void> {
    return this.#check(entry, task, msg, log, false);
  }

  /**
   * Stops every timer: parked and approved deliveries are handed back (the caller requeues
   * them), held ones wake up and go back to their queue themselves.
   */
  stopTimers(): Delivery[] {
    const back = [...this.#ready.splice(0).map((r) => r.delivery), ...this.#parked.keys()];
    for (const { timer } of this.#parked.values()) clearTimeout(timer);
    this.#parked.clear();
    for (const { timer, wake } of this.#held.values()) {
      clearTimeout(timer);
      wake();
    }
    this.#held.clear();
    return back;
  }

  /** Stops watching revocations. */
  async stopWatch(): Promise<void> {
    const watch = this.#watch;
    this.#watch = undefined;
    await watch?.stop().catch(() => undefined);
  }

  #check(
    entry: InFlight,
    task: RegisteredTask,
    msg: TaskMessage,
    log: Logger,
    fresh: boolean,
  ): Promise<void> {
    const { headers } = msg;
    const now = this.#deps.clock.now();
    const expires = messageExpires(headers);
    if (expires && expires.getTime() <= now) {
      log.warn({ expires: headers.expires }, 'task expired before it could run; marked REVOKED');
      return this.#skip(entry, msg, 'expired', log);
    }
    if (fresh) {
      const eta = messageEta(headers);
      if (eta && eta.getTime() > now)
        return this.#defer(entry, task, msg, eta.getTime() - now, log);
      log.debug(
        { args: headers.argsrepr, kwargs: headers.kwargsrepr },
        `Task ${headers.task}[${headers.id}] received`,
      );
    }
    if (this.#revoked.size > 0 && this.#isRevoked(headers.id)) {
      log.info(`Task ${headers.task}[${headers.id}] revoked; not run`);
      return this.#skip(entry, msg, 'revoked', log);
    }
    if (fresh) {
      const limit = this.#rateLimitOf(task);
      if (limit) return this.#throttle(entry, task, msg, limit, log);
    }
    return this.#deps.run(entry, task, msg, log);
  }

  async #unknownTask(delivery: Delivery, msg: TaskMessage, log: Logger): Promise<void> {
    const { headers } = msg;
    const writer = this.#deps.writer;
    const message = `task "${headers.task}" is not registered on this worker: define it with app.task() in the module the worker loads, or route it to a queue only workers that know it consume`;
    log.error({ queue: delivery.queue }, message);
    if (!headers.ignore_result) {
      await writer.store(msg, 'FAILURE', notRegisteredDocument(headers.task), null, log);
    }
    await writer.deadLetter(delivery, { code: ErrorCodes.UNKNOWN_TASK, message });
    this.#deps.observers?.rejected(msg, delivery, false);
  }

  /**
   * Dead-lettered (an operator sees and replays it), and when its headers give a task id, its
   * FAILURE stored first (Celery's ContentDisallowed, DecodeError or InvalidTaskError), so
   * the caller's `get()` raises instead of waiting forever.
   */
  async #undecodable(delivery: Delivery, err: unknown, reason: DeadLetterReason): Promise<void> {
    const failed = undecodable(delivery.message, err);
    if (failed && !failed.msg.headers.ignore_result) {
      const log = taskLogger(this.#deps.logger, failed.msg);
      await this.#deps.writer.store(failed.msg, 'FAILURE', failed.exception, null, log);
    }
    await this.#deps.writer.deadLetter(delivery, reason);
    this.#deps.observers?.rejected(failed?.msg, delivery, false);
  }

  /** Not run: REVOKED is stored (Celery's TaskRevokedError) with the ack, or only acked. */
  #skip(
    entry: InFlight,
    msg: TaskMessage,
    reason: 'expired' | 'revoked',
    log: Logger,
  ): Promise<void> {
    const info = { terminated: false, expired: reason === 'expired' };
    this.#deps.observers?.revoked(msg, entry.delivery.queue, info);
    return this.#deps.writer.revoked(msg, msg.headers.ignore_result, reason, log, entry.delivery);
  }

  #isRevoked(id: string): boolean {
    const r = this.#revoked.get(id);
    if (!r) return false;
    if (r.expiresAt <= this.#deps.clock.now()) {
      this.#revoked.delete(id);
      return false;
    }
    return true;
  }

  /**
   * A message that arrived before its ETA (a Python client publishes ETA tasks straight to the
   * queue): a near one is held for the remaining moment, a far one goes back to the broker's
   * delay store, so no slot and no unacked message waits for hours.
   */
  async #defer(
    entry: InFlight,
    task: RegisteredTask,
    msg: TaskMessage,
    waitMs: number,
    log: Logger,
  ): Promise<void> {
    const { delivery } = entry;
    const writer = this.#deps.writer;
    if (waitMs > HOLD_ETA_IN_MEMORY_MS) {
      try {
        await this.#broker?.publish(delivery.queue, delivery.message, {
          deliverAt: this.#deps.clock.now() + waitMs,
        });
        await delivery.ack();
        log.debug({ eta: msg.headers.eta }, 'task moved to the broker delay store until its ETA');
      } catch (err) {
        log.error({ err }, 'could not defer an ETA task; requeueing it');
        await writer.requeue(delivery);
      }
      return;
    }
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        this.#held.delete(entry);
        resolve();
      };
      const eta = this.#deps.clock.now() + waitMs;
      this.#held.set(entry, { timer: setTimeout(wake, waitMs), wake, msg, eta });
    });
    if (entry.abandoned) return; // requeued by an abort
    if (!this.#deps.accepting()) {
      // Through abandon(), not a plain requeue: an abort that comes now must not requeue it twice.
      await writer.abandon(entry, new CeleriacError(ErrorCodes.CLOSED, 'worker shutting down'));
      return;
    }
    await this.readmit(entry, task, msg, log);
  }

  async #throttle(
    entry: InFlight,
    task: RegisteredTask,
    msg: TaskMessage,
    limit: RateLimit,
    log: Logger,
  ): Promise<void> {
    const key = `${task.name}${task.options.rateLimitKey ? `:${task.options.rateLimitKey(msg.args, msg.kwargs)}` : ''}`;
    // Slots 5% wider than the limit: a timer that fires late (a busy event loop) would
    // otherwise squeeze one more start into some window than the limit allows.
    const waitMs = await this.#coordination?.reserveRateSlot(
      key,
      limit.count,
      limit.intervalMs * RATE_GUARD,
    );
    if (waitMs !== undefined && waitMs > 0) {
      this.#park(entry, task, msg, waitMs);
      return;
    }
    await this.#deps.run(entry, task, msg, log);
  }

  /**
   * Gives the concurrency slot back while a rate-limited task waits for its reserved slot; a
   * timer (not a poll) brings it back, ahead of new deliveries.
   */
  #park(entry: InFlight, task: RegisteredTask, msg: TaskMessage, waitMs: number): void {
    const { delivery } = entry;
    entry.parked = true;
    const timer = setTimeout(() => {
      if (!this.#parked.delete(delivery)) return; // handed back by stopTimers()
      this.#ready.push({ delivery, msg, task });
      this.#deps.wake();
    }, waitMs);
    this.#parked.set(delivery, { timer, msg });
  }

  #rateLimitOf(task: RegisteredTask): RateLimit | null {
    let limit = this.#rateLimits.get(task.name);
    if (limit === undefined) {
      limit = task.options.rateLimit ? (parseRateLimit(task.options.rateLimit) ?? null) : null;
      this.#rateLimits.set(task.name, limit);
    }
    return limit;
  }
}
