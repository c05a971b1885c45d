import type { Delivery, TaskMessage } from '@celeriac/core';
import { exceptionToDocument, excRepr, pyRepr, tracebackOf } from '@celeriac/core/internal';
import { jsonText as q, type EventSender } from '@celeriac/client/internal';
import type { RevokedInfo, TaskObserver } from '../observe.js';

/** Celery's `resultrepr_maxsize`: how much of a result's repr an event carries. */
const RESULT_REPR_MAX = 1024;

/** Celery's `SIGTERM` number, sent as `signum` of a task revoked with terminate. */
const SIGTERM = 15;

/**
 * A worker's task events (`task-received` … `task-rejected`) with exactly the fields a Celery
 * worker sends (celery/worker/strategy.py and request.py), which Flower, `celery events` and
 * celery-exporter read. `task-received` also carries `queue`, which a Celery worker leaves to
 * `task-sent`: celery-exporter labels its counters with it.
 *
 * Off until `enable()`: Celery's `worker_send_task_events`, `-E`, `enable_events`.
 */
export class TaskEvents implements TaskObserver {
  readonly #sender: EventSender;
  #enabled = false;

  constructor(sender: EventSender) {
    this.#sender = sender;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  enable(): void {
    this.#enabled = true;
  }

  disable(): void {
    this.#enabled = false;
  }

  // The three events of every task are written as JSON members by hand (see sendMembers).
  received(msg: TaskMessage, queue: string): void {
    if (!this.#enabled) return;
    const h = msg.headers;
    const args = h.argsrepr ?? pyRepr(msg.args, 1024, true);
    const kwargs = h.kwargsrepr ?? pyRepr(msg.kwargs);
    const retries = Number.isFinite(h.retries) ? h.retries : 0;
    this.#sender.sendMembers(
      'task-received',
      `"uuid":${q(h.id)},"name":${q(h.task)},"args":${q(args)},"kwargs":${q(kwargs)},` +
        `"root_id":${q(h.root_id)},"parent_id":${q(h.parent_id)},"retries":${retries},` +
        `"eta":${q(h.eta)},"expires":${q(h.expires)},"queue":${q(queue)}`,
    );
  }

  started(msg: TaskMessage): void {
    if (this.#enabled) this.#sender.sendMembers('task-started', `"uuid":${q(msg.headers.id)}`);
  }

  succeeded(msg: TaskMessage, _queue: string, result: unknown, runtime: number): void {
    if (!this.#enabled) return;
    const repr = pyRepr(result, RESULT_REPR_MAX);
    const seconds = Number.isFinite(runtime) ? runtime : 0;
    this.#sender.sendMembers(
      'task-succeeded',
      `"uuid":${q(msg.headers.id)},"result":${q(repr)},"runtime":${seconds}`,
    );
  }

  failed(msg: TaskMessage, _queue: string, error: unknown): void {
    if (!this.#enabled) return;
    this.#sender.send('task-failed', {
      uuid: msg.headers.id,
      exception: excRepr(exceptionToDocument(error)),
      traceback: tracebackOf(error),
    });
  }

  retried(msg: TaskMessage, _queue: string, error: unknown): void {
    if (!this.#enabled) return;
    this.#sender.send('task-retried', {
      uuid: msg.headers.id,
      exception: excRepr(exceptionToDocument(error)),
      traceback: tracebackOf(error) ?? '',
    });
  }

  revoked(msg: TaskMessage, _queue: string, info: RevokedInfo): void {
    if (!this.#enabled) return;
    this.#sender.send('task-revoked', {
      uuid: msg.headers.id,
      terminated: info.terminated,
      signum: info.terminated ? SIGTERM : null,
      expired: info.expired,
    });
  }

  rejected(msg: TaskMessage | undefined, _delivery: Delivery, requeue: boolean): void {
    if (!this.#enabled || !msg) return;
    this.#sender.send('task-rejected', { uuid: msg.headers.id, requeue });
  }
}
