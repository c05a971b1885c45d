/**
 * `@celeriac/worker/metrics`: Prometheus metrics with celery-exporter's names, labels and
 * buckets, so its Grafana dashboards and alerts work unchanged. Loading it loads prom-client;
 * `@celeriac/worker` itself never does.
 *
 * @example
 * ```ts
 * import { Worker } from '@celeriac/worker';
 * import { WorkerMetrics, startMetricsServer } from '@celeriac/worker/metrics';
 *
 * const worker = new Worker(app);
 * const metrics = new WorkerMetrics(worker);
 * await worker.start();
 * const server = await startMetricsServer(metrics.registry, { port: 9808 });
 * ```
 */
export {
  CeleryMetrics,
  QUEUE_WAIT_BUCKETS,
  RUNTIME_BUCKETS,
  exceptionLabel,
  hostLabel,
} from './celery-metrics.js';
export type {
  CeleryMetricsOptions,
  CollectedGauge,
  CountedTaskEvent,
  TaskLabels,
} from './celery-metrics.js';
export { WorkerMetrics } from './worker-metrics.js';
export type { WorkerMetricsOptions } from './worker-metrics.js';
export { EventMetrics } from './event-metrics.js';
export type { EventMetricsOptions } from './event-metrics.js';
export { startMetricsServer } from './metrics-server.js';
export type { HttpEndpoint, ListenOptions } from '../http-listen.js';
