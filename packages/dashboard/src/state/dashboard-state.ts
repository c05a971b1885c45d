import type { DashboardEvent } from './celery-event.js';
import { QueueRates, Series, type SeriesSnapshot } from './series.js';
import { TaskStore, type TaskQuery, type TaskRecord, type TaskState } from './task-store.js';
import { WorkerStore, type WorkerRecord } from './worker-store.js';

/** Options of {@link DashboardState}. */
export interface DashboardStateOptions {
  /** Tasks kept in memory; the least recently updated goes first. @default 10000 */
  maxTasks?: number;
  /** Width of one chart slice, in milliseconds. @default 5000 */
  bucketMs?: number;
  /** Slices the charts keep. @default 120 (ten minutes of 5 s slices) */
  buckets?: number;
}

/** What changed since the last {@link DashboardState.drain}: what the page is sent. */
export interface StateChanges {
  tasks: TaskRecord[];
  workers: WorkerRecord[];
}

/** Totals since the dashboard started (events seen), by type. */
export type EventCounts = Record<string, number>;

/**
 * Everything the dashboard shows that events tell it, in memory and bounded: the pure core of
 * the dashboard (events in, state out). Nothing is persisted: a restarted dashboard rebuilds
 * it from the events that follow (and the workers' `stats`).
 */
export class DashboardState {
  readonly tasks: TaskStore;
  readonly workers = new WorkerStore();
  readonly series: Series;
  readonly queueRates = new QueueRates();
  readonly eventCounts: EventCounts = {};
  readonly #dirtyTasks = new Set<string>();
  readonly #dirtyWorkers = new Set<string>();

  constructor(options: DashboardStateOptions = {}) {
    this.tasks = new TaskStore(options.maxTasks ?? 10_000);
    this.series = new Series(options.bucketMs ?? 5000, options.buckets ?? 120);
  }

  /** Applies one Celery event received at local time `nowMs`. */
  apply(e: DashboardEvent, nowMs: number): void {
    if (typeof e.type !== 'string') return;
    this.eventCounts[e.type] = (this.eventCounts[e.type] ?? 0) + 1;
    if (e.type.startsWith('worker-')) {
      const w = this.workers.apply(e, nowMs);
      if (w) this.#dirtyWorkers.add(w.hostname);
      return;
    }
    const before = e.uuid === undefined ? undefined : this.tasks.get(e.uuid);
    const wasStarted = before?.started ?? null;
    const task = this.tasks.apply(e);
    if (!task) return;
    this.#dirtyTasks.add(task.uuid);
    const bucket = this.series.at(nowMs);
    switch (e.type) {
      case 'task-received':
        bucket.received++;
        if (task.queue) this.queueRates.count(task.queue, nowMs);
        break;
      case 'task-started':
        if (wasStarted === null && task.received !== null && task.started !== null) {
          bucket.waitSum += Math.max(0, task.started - task.received);
          bucket.waitCount++;
        }
        break;
      case 'task-succeeded':
        bucket.succeeded++;
        if (task.runtime !== null) {
          bucket.runtimeSum += task.runtime;
          bucket.runtimeCount++;
          bucket.runtimeMax = Math.max(bucket.runtimeMax, task.runtime);
        }
        break;
      case 'task-failed':
        bucket.failed++;
        break;
      case 'task-retried':
        bucket.retried++;
        break;
      default:
        break;
    }
    // A parent's child list grew: the parent changed too.
    if (task.parentId && this.tasks.get(task.parentId)) this.#dirtyTasks.add(task.parentId);
  }

  /** A `stats` reply (remote control) from `hostname`. */
  applyStats(hostname: string, reply: unknown, nowMs: number, validMs: number): void {
    this.workers.applyStats(hostname, reply, nowMs, validMs);
    this.#dirtyWorkers.add(hostname);
  }

  /** An `active_queues` reply (remote control) from `hostname`. */
  applyActiveQueues(hostname: string, reply: unknown): void {
    if (this.workers.applyQueues(hostname, reply)) this.#dirtyWorkers.add(hostname);
  }

  /** The changes since the last drain (workers gone silent included), then forgets them. */
  drain(nowMs: number): StateChanges {
    for (const w of this.workers.expire(nowMs)) this.#dirtyWorkers.add(w.hostname);
    const tasks: TaskRecord[] = [];
    for (const id of this.#dirtyTasks) {
      const t = this.tasks.get(id);
      if (t) tasks.push(t);
    }
    const workers: WorkerRecord[] = [];
    for (const name of this.#dirtyWorkers) {
      const w = this.workers.get(name);
      if (w) workers.push(w);
    }
    this.#dirtyTasks.clear();
    this.#dirtyWorkers.clear();
    return { tasks, workers };
  }

  /** The tasks that match, most recent first. */
  queryTasks(q: TaskQuery): TaskRecord[] {
    return this.tasks.query(q);
  }

  /** The whole picture for a page that just connected. */
  snapshot(
    nowMs: number,
    recentTasks = 200,
  ): {
    workers: WorkerRecord[];
    tasks: TaskRecord[];
    taskCounts: Record<TaskState, number>;
    series: SeriesSnapshot;
    eventCounts: EventCounts;
  } {
    this.workers.expire(nowMs);
    return {
      workers: this.workers.list(),
      tasks: this.tasks.query({ limit: recentTasks }),
      taskCounts: this.tasks.countByState(),
      series: this.series.snapshot(nowMs),
      eventCounts: { ...this.eventCounts },
    };
  }
}
