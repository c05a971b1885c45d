import {
  receiveEvents,
  type CeleryEvent,
  type EventReceiver,
  type EventSource,
} from '@celeriac/client';
import {
  CeleryMetrics,
  exceptionLabel,
  hostLabel,
  type CeleryMetricsOptions,
  type CountedTaskEvent,
  type TaskLabels,
} from './celery-metrics.js';

export interface EventMetricsOptions extends CeleryMetricsOptions {
  /** Metrics to feed, when several sources share one registry. @default new CeleryMetrics(options) */
  metrics?: CeleryMetrics;
  /** Queues whose length is read at each scrape, besides those seen in events. @default [] */
  queues?: readonly string[];
  /** `queue_name` of a task no event named a queue for (celery-exporter's `--default-queue-name`). @default 'celery' */
  defaultQueue?: string;
  /** A worker unheard of for this long (seconds) counts as down (celery-exporter's `--worker-timeout`). @default 300 */
  workerTimeout?: number;
  /** The most tasks whose name and queue are remembered between their events. @default 10000 */
  maxTasks?: number;
}

/** What the events of one task told so far. */
interface TaskState {
  name: string;
  queue: string | undefined;
  /** `task-sent`'s timestamp, epoch seconds. */
  sent: number | undefined;
  eta: string | undefined;
}

const TASK_TYPES: Readonly<Record<string, CountedTaskEvent>> = {
  'task-sent': 'sent',
  'task-received': 'received',
  'task-started': 'started',
  'task-succeeded': 'succeeded',
  'task-failed': 'failed',
  'task-rejected': 'rejected',
  'task-revoked': 'revoked',
  'task-retried': 'retried',
};

const ENDS = new Set<CountedTaskEvent>(['succeeded', 'failed', 'revoked', 'rejected']);

/**
 * celery-exporter's metrics fed from Celery events: for every worker on the broker, Python's
 * or Celeriac's (workers need task events on: `-E`). It computes what celery-exporter does
 * from the same events: counters labelled with the task's name, the sender's host and the
 * queue (from `task-sent`, or the `queue` a Celeriac worker adds to `task-received`),
 * `celery_task_runtime` from `task-succeeded`'s `runtime`, `celery_task_queue_wait_time`
 * as `task-started` − max(`task-sent`, ETA) when the client sent `task-sent`,
 * `celery_worker_up` / `celery_worker_tasks_active` from heartbeats, and
 * `celery_queue_length` read from the broker at each scrape for every queue seen.
 *
 * `start(app)` listens itself; a process that already receives events (the dashboard) hands
 * them to `handle(event)` instead and calls `attach(app)` for the queue lengths.
 *
 * @example
 * ```ts
 * const metrics = await new EventMetrics().start(app);
 * const server = await startMetricsServer(metrics.registry, { port: 9808 });
 * ```
 */
export class EventMetrics {
  readonly metrics: CeleryMetrics;
  readonly #queues: Set<string>;
  readonly #defaultQueue: string;
  readonly #workerTimeoutMs: number;
  readonly #maxTasks: number;
  readonly #tasks = new Map<string, TaskState>();
  readonly #lastSeen = new Map<string, number>();
  #app: EventSource | undefined;
  #receiver: EventReceiver | undefined;
  readonly #unsubscribe: (() => void)[] = [];

  constructor(options: EventMetricsOptions = {}) {
    const m = (this.metrics = options.metrics ?? new CeleryMetrics(options));
    this.#queues = new Set(options.queues ?? []);
    this.#defaultQueue = options.defaultQueue ?? 'celery';
    this.#workerTimeoutMs = (options.workerTimeout ?? 300) * 1000;
    this.#maxTasks = options.maxTasks ?? 10_000;
    this.#unsubscribe.push(
      m.onCollect('queueLength', () => this.#queueLengths()),
      m.onCollect('workerUp', () => this.#expireWorkers()),
    );
  }

  get registry(): CeleryMetrics['registry'] {
    return this.metrics.registry;
  }

  /** Reads queue lengths from `app`'s broker at each scrape (no events are received). */
  attach(app: EventSource): this {
    this.#app = app;
    return this;
  }

  /** Attaches `app` and listens to its broker's events. */
  async start(app: EventSource): Promise<this> {
    this.attach(app);
    this.#receiver ??= await receiveEvents(app, (event) => this.handle(event));
    return this;
  }

  /** Stops listening and feeding the metrics (they keep their values). Idempotent. */
  async close(): Promise<void> {
    for (const u of this.#unsubscribe.splice(0)) u();
    const receiver = this.#receiver;
    this.#receiver = undefined;
    await receiver?.close();
  }

  /** Feeds one Celery event. */
  handle(event: CeleryEvent): void {
    switch (event.type) {
      case 'worker-online':
      case 'worker-heartbeat':
        return this.#worker(event, true);
      case 'worker-offline':
        return this.#worker(event, false);
      default: {
        const type = TASK_TYPES[event.type];
        if (type && typeof event.uuid === 'string') this.#task(type, event.uuid, event);
      }
    }
  }

  #worker(event: CeleryEvent, online: boolean): void {
    const hostname = hostLabel(event.hostname);
    if (online) this.#lastSeen.set(hostname, Date.now());
    else this.#lastSeen.delete(hostname);
    this.metrics.workerUp.set({ hostname }, online ? 1 : 0);
    const active = typeof event['active'] === 'number' ? event['active'] : 0;
    if (!online || event.type === 'worker-heartbeat')
      this.metrics.workerTasksActive.set({ hostname }, online ? active : 0);
  }

  #expireWorkers(): void {
    const now = Date.now();
    for (const [hostname, seen] of this.#lastSeen) {
      if (now - seen <= this.#workerTimeoutMs) continue;
      this.#lastSeen.delete(hostname);
      this.metrics.workerUp.set({ hostname }, 0);
      this.metrics.workerTasksActive.set({ hostname }, 0);
    }
  }

  #task(type: CountedTaskEvent, uuid: string, event: CeleryEvent): void {
    const state = this.#state(uuid, event);
    const queue = state.queue ?? this.#defaultQueue;
    this.#queues.add(queue);
    const labels: TaskLabels = {
      name: state.name,
      hostname: hostLabel(event.hostname),
      queue_name: queue,
    };
    const exception =
      type === 'failed'
        ? exceptionLabel(typeof event['exception'] === 'string' ? event['exception'] : '')
        : '';
    this.metrics.count(type, labels, exception);
    if (type === 'started' && state.sent !== undefined) {
      const eta = state.eta ? Date.parse(state.eta) / 1000 : NaN;
      const baseline = Number.isNaN(eta) ? state.sent : Math.max(state.sent, eta);
      this.metrics.queueWaitTime.observe(labels, Math.max(0, event.timestamp - baseline));
    }
    if (type === 'succeeded' && typeof event['runtime'] === 'number')
      this.metrics.runtime.observe(labels, event['runtime']);
    if (ENDS.has(type)) this.#tasks.delete(uuid);
  }

  /** The task's state with this event's fields merged in, as Celery's `State` keeps it. */
  #state(uuid: string, event: CeleryEvent): TaskState {
    let state = this.#tasks.get(uuid);
    if (!state) {
      state = { name: 'unknown', queue: undefined, sent: undefined, eta: undefined };
      this.#tasks.set(uuid, state);
      if (this.#tasks.size > this.#maxTasks) {
        const oldest = this.#tasks.keys().next().value;
        if (oldest !== undefined) this.#tasks.delete(oldest);
      }
    }
    if (typeof event['name'] === 'string') state.name = event['name'];
    if (typeof event['queue'] === 'string') state.queue = event['queue'];
    if (typeof event['eta'] === 'string') state.eta = event['eta'];
    if (event.type === 'task-sent') state.sent = event.timestamp;
    return state;
  }

  async #queueLengths(): Promise<void> {
    const app = this.#app;
    if (!app) return;
    const broker = await app.broker();
    await Promise.all(
      [...this.#queues].map(async (queue) => {
        try {
          this.metrics.queueLength.set({ queue_name: queue }, await broker.count(queue));
        } catch (err) {
          app.logger.warn({ err, queue }, 'metrics: could not read the queue length');
        }
      }),
    );
  }
}
