import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The task event types celery-exporter counts, each with its counter
 * `celery_task_<type>_total`.
 */
export type CountedTaskEvent =
  'sent' | 'received' | 'started' | 'succeeded' | 'failed' | 'rejected' | 'revoked' | 'retried';

const COUNTED: readonly CountedTaskEvent[] = [
  'sent',
  'received',
  'started',
  'succeeded',
  'failed',
  'rejected',
  'revoked',
  'retried',
];

/** What celery-exporter's help text says of each counter (its Grafana panels show it). */
const HELP: Record<CountedTaskEvent, string> = {
  sent: 'Sent when a task message is published.',
  received: 'Sent when the worker receives a task.',
  started: 'Sent just before the worker executes the task.',
  succeeded: 'Sent if the task executed successfully.',
  failed: 'Sent if the execution of the task failed.',
  rejected:
    'The task was rejected by the worker, possibly to be re-queued or moved to a dead letter queue.',
  revoked: 'Sent if the task has been revoked.',
  retried: 'Sent if the task failed, but will be retried in the future.',
};

/** prometheus_client's `Histogram.DEFAULT_BUCKETS`, celery-exporter's `celery_task_runtime` buckets. */
export const RUNTIME_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/** celery-exporter's `DEFAULT_QUEUE_WAIT_BUCKETS` (its +Inf is implied). */
export const QUEUE_WAIT_BUCKETS: readonly number[] = [
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800,
];

/** The labels of every task counter and histogram. */
// A type, not an interface: prom-client takes labels as a string-indexed record.
export type TaskLabels = {
  readonly name: string;
  /** The host part of the node name (`celery@host` → `host`), as celery-exporter's `get_hostname`. */
  readonly hostname: string;
  readonly queue_name: string;
};

/** Celery's `nodesplit` host part: `celeriac@web-1` → `web-1`; a name without `@` is all host. */
export function hostLabel(nodename: string): string {
  const at = nodename.indexOf('@');
  return at < 0 ? nodename : nodename.slice(at + 1);
}

/**
 * celery-exporter's `get_exception_class_name`: the class name before the `(` of an
 * exception repr (`ValueError('x')` → `ValueError`), else `UnknownException`.
 */
export function exceptionLabel(repr: string): string {
  return /^(\w+)\(/.exec(repr)?.[1] ?? 'UnknownException';
}

/** The gauges read at scrape time. */
export type CollectedGauge = 'queueLength' | 'workerUp' | 'workerTasksActive';

export interface CeleryMetricsOptions {
  /** Where the metrics are registered. @default a new `Registry` */
  registry?: Registry;
  /** `celery_task_runtime` buckets, in seconds. @default RUNTIME_BUCKETS */
  runtimeBuckets?: readonly number[];
  /** `celery_task_queue_wait_time` buckets, in seconds. @default QUEUE_WAIT_BUCKETS */
  queueWaitBuckets?: readonly number[];
}

/**
 * celery-exporter's metrics, with its names, label names, help texts and buckets, so its
 * Grafana dashboards and alerts work unchanged on them. Feeding them is the job of
 * `WorkerMetrics` (in-process, one worker) and `EventMetrics` (Celery events, any worker).
 * As celery-exporter does, the first count for a label set creates every other task counter
 * of that set at 0 (`task-sent`'s excepted), so rates show before the first failure.
 */
export class CeleryMetrics {
  readonly registry: Registry;
  readonly counters: Readonly<Record<CountedTaskEvent, Counter>>;
  readonly runtime: Histogram;
  readonly queueWaitTime: Histogram;
  readonly queueLength: Gauge;
  readonly workerUp: Gauge;
  readonly workerTasksActive: Gauge;
  readonly #seen = new Set<string>();
  readonly #collectors: Record<CollectedGauge, (() => Promise<void> | void)[]> = {
    queueLength: [],
    workerUp: [],
    workerTasksActive: [],
  };

  constructor(options: CeleryMetricsOptions = {}) {
    const registry = (this.registry = options.registry ?? new Registry());
    const registers = [registry];
    const taskLabels = ['name', 'hostname', 'queue_name'];
    const counters = {} as Record<CountedTaskEvent, Counter>;
    for (const type of COUNTED) {
      counters[type] = new Counter({
        name: `celery_task_${type}_total`,
        help: HELP[type],
        labelNames:
          type === 'failed' ? ['name', 'hostname', 'exception', 'queue_name'] : taskLabels,
        registers,
      });
    }
    this.counters = counters;
    this.runtime = new Histogram({
      name: 'celery_task_runtime',
      help: 'Histogram of task runtime measurements.',
      labelNames: taskLabels,
      buckets: [...(options.runtimeBuckets ?? RUNTIME_BUCKETS)],
      registers,
    });
    this.queueWaitTime = new Histogram({
      name: 'celery_task_queue_wait_time',
      help: 'Histogram of the time tasks spend waiting in the queue before being executed, excluding deliberate ETA/countdown delay.',
      labelNames: taskLabels,
      buckets: [...(options.queueWaitBuckets ?? QUEUE_WAIT_BUCKETS)],
      registers,
    });
    this.queueLength = new Gauge({
      name: 'celery_queue_length',
      collect: () => this.#collect('queueLength'),
      help: 'The number of message in broker queue.',
      labelNames: ['queue_name'],
      registers,
    });
    this.workerUp = new Gauge({
      name: 'celery_worker_up',
      collect: () => this.#collect('workerUp'),
      help: 'Indicates if a worker has recently sent a heartbeat.',
      labelNames: ['hostname'],
      registers,
    });
    this.workerTasksActive = new Gauge({
      name: 'celery_worker_tasks_active',
      collect: () => this.#collect('workerTasksActive'),
      help: 'The number of tasks the worker is currently processing',
      labelNames: ['hostname'],
      registers,
    });
  }

  /**
   * Runs `fn` before each scrape of `gauge` (what reads a broker or a worker's state at
   * scrape time); returns the unsubscribe.
   */
  onCollect(gauge: CollectedGauge, fn: () => Promise<void> | void): () => void {
    const list = this.#collectors[gauge];
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  async #collect(gauge: CollectedGauge): Promise<void> {
    await Promise.all(this.#collectors[gauge].map(async (fn) => fn()));
  }

  /** Counts one task event; `exception` is the class name, for `failed` only. */
  count(type: CountedTaskEvent, labels: TaskLabels, exception = ''): void {
    const { name, hostname, queue_name } = labels;
    if (type !== 'sent') {
      const key = `${name}\u0000${hostname}\u0000${queue_name}`;
      if (!this.#seen.has(key)) {
        this.#seen.add(key);
        for (const other of COUNTED) {
          if (other === 'sent' || other === type) continue;
          const l = other === 'failed' ? { name, hostname, queue_name, exception: '' } : labels;
          this.counters[other].inc({ ...l }, 0);
        }
      }
    }
    const l = type === 'failed' ? { name, hostname, queue_name, exception } : labels;
    this.counters[type].inc({ ...l });
  }

  /** The Prometheus text exposition of every metric. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
