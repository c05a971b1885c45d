import type { Delivery, TaskMessage } from '@celeriac/core';
import { exceptionToDocument, messageEta } from '@celeriac/core/internal';
import type { TaskObserver } from '../observe.js';
import type { Worker } from '../worker.js';
import {
  CeleryMetrics,
  hostLabel,
  type CeleryMetricsOptions,
  type TaskLabels,
} from './celery-metrics.js';

export interface WorkerMetricsOptions extends CeleryMetricsOptions {
  /**
   * Metrics to feed, when several sources share one registry. @default new CeleryMetrics(options)
   */
  metrics?: CeleryMetrics;
}

/**
 * celery-exporter's metrics for one worker, fed in-process by its `TaskObserver` steps (no
 * broker round trip, no events needed, every broker). `celery_queue_length` is read from
 * the broker for the worker's queues at each scrape; `celery_worker_up` is 1 while the
 * worker is running; `celery_worker_tasks_active` counts the tasks running now.
 *
 * `celery_task_queue_wait_time` is, here, the time from the worker receiving a task (or its
 * ETA, if later) to its start: what it waited in this worker (prefetch buffer, rate limit).
 * The protocol carries no send time; for the wait from `task-sent` on, as celery-exporter
 * measures it, use `EventMetrics` with clients sending `task-sent`. `celery_task_sent_total`
 * is declared but only `EventMetrics` counts it (a worker does not see the tasks others send).
 *
 * @example
 * ```ts
 * const metrics = new WorkerMetrics(worker);
 * const server = await startMetricsServer(metrics.registry, { port: 9808 });
 * ```
 */
export class WorkerMetrics implements TaskObserver {
  readonly metrics: CeleryMetrics;
  readonly #worker: Worker;
  readonly #host: string;
  /** When each task waiting to start was received (epoch ms). */
  readonly #receivedAt = new Map<string, number>();
  readonly #active = new Set<string>();
  readonly #unsubscribe: (() => void)[] = [];

  constructor(worker: Worker, options: WorkerMetricsOptions = {}) {
    this.#worker = worker;
    this.#host = hostLabel(worker.hostname);
    const m = (this.metrics = options.metrics ?? new CeleryMetrics(options));
    this.#unsubscribe.push(
      worker.observe(this),
      m.onCollect('queueLength', () => this.#queueLengths()),
      m.onCollect('workerUp', () => {
        m.workerUp.set({ hostname: this.#host }, worker.state === 'running' ? 1 : 0);
      }),
      m.onCollect('workerTasksActive', () => {
        m.workerTasksActive.set({ hostname: this.#host }, this.#active.size);
      }),
    );
  }

  get registry(): CeleryMetrics['registry'] {
    return this.metrics.registry;
  }

  /** Stops feeding the metrics (they stay registered with their values). Idempotent. */
  close(): void {
    for (const u of this.#unsubscribe.splice(0)) u();
  }

  async #queueLengths(): Promise<void> {
    const broker = await this.#worker.app.broker();
    await Promise.all(
      this.#worker.queues.map(async (queue) => {
        try {
          this.metrics.queueLength.set({ queue_name: queue }, await broker.count(queue));
        } catch (err) {
          this.#worker.logger.warn({ err, queue }, 'metrics: could not read the queue length');
        }
      }),
    );
  }

  #labels(msg: TaskMessage, queue: string): TaskLabels {
    return { name: msg.headers.task, hostname: this.#host, queue_name: queue };
  }

  received(msg: TaskMessage, queue: string): void {
    this.#receivedAt.set(msg.headers.id, Date.now());
    this.metrics.count('received', this.#labels(msg, queue));
  }

  started(msg: TaskMessage, queue: string): void {
    const id = msg.headers.id;
    const labels = this.#labels(msg, queue);
    this.metrics.count('started', labels);
    this.#active.add(id);
    const received = this.#receivedAt.get(id);
    this.#receivedAt.delete(id);
    if (received !== undefined) {
      const baseline = Math.max(received, messageEta(msg.headers)?.getTime() ?? 0);
      this.metrics.queueWaitTime.observe(labels, Math.max(0, (Date.now() - baseline) / 1000));
    }
  }

  succeeded(msg: TaskMessage, queue: string, _result: unknown, runtime: number): void {
    const labels = this.#labels(msg, queue);
    this.#ended(msg);
    this.metrics.count('succeeded', labels);
    this.metrics.runtime.observe(labels, runtime);
  }

  failed(msg: TaskMessage, queue: string, error: unknown): void {
    this.#ended(msg);
    const exception = exceptionToDocument(error).exc_type || 'UnknownException';
    this.metrics.count('failed', this.#labels(msg, queue), exception);
  }

  retried(msg: TaskMessage, queue: string): void {
    this.#ended(msg);
    this.metrics.count('retried', this.#labels(msg, queue));
  }

  revoked(msg: TaskMessage, queue: string): void {
    this.#ended(msg);
    this.metrics.count('revoked', this.#labels(msg, queue));
  }

  rejected(msg: TaskMessage | undefined, delivery: Delivery): void {
    // An undecodable message has no task name to label it with; `celeriac dlq` lists it.
    if (!msg) return;
    this.#ended(msg);
    this.metrics.count('rejected', this.#labels(msg, delivery.queue));
  }

  #ended(msg: TaskMessage): void {
    this.#active.delete(msg.headers.id);
    this.#receivedAt.delete(msg.headers.id);
  }
}
