/**
 * `@celeriac/dashboard`: a live web UI for a Celeriac (or Celery) cluster, fed by Celery
 * events and remote control: workers, queues, tasks, beat entries, dead letters, and charts
 * of throughput and latency. Read-only unless actions are allowed; optional basic auth.
 * Nothing is persisted: the state is rebuilt from the events that follow a restart.
 *
 * @example
 * ```ts
 * import { Celeriac } from '@celeriac/client';
 * import { startDashboard } from '@celeriac/dashboard';
 *
 * const app = new Celeriac({ broker: 'redis://localhost:6379' });
 * const dashboard = await startDashboard({ app, port: 5555, allowActions: true });
 * console.log(`open ${dashboard.url}`);
 * ```
 */
export { startDashboard } from './dashboard.js';
export type { Dashboard } from './dashboard.js';
export { compileDashboardOptions } from './dashboard-options.js';
export type {
  CompiledDashboardOptions,
  DashboardOptions,
  EventSubscriber,
  EventSubscription,
} from './dashboard-options.js';
export type { BasicAuth } from './server/basic-auth.js';
export type { DashboardRoute, RouteContext } from './server/http-kit.js';
export { HttpError } from './server/http-kit.js';
export { DashboardState } from './state/dashboard-state.js';
export type { DashboardStateOptions, EventCounts, StateChanges } from './state/dashboard-state.js';
export type { DashboardEvent } from './state/celery-event.js';
export { TaskStore, TASK_STATES } from './state/task-store.js';
export type { TaskQuery, TaskRecord, TaskState } from './state/task-store.js';
export { WorkerStore } from './state/worker-store.js';
export type { WorkerRecord } from './state/worker-store.js';
export { QueueRates, Series } from './state/series.js';
export type { Bucket, SeriesSnapshot } from './state/series.js';
export type { BeatEntryInfo, BeatInfo, DeadLetterInfo, QueueInfo } from './cluster.js';
