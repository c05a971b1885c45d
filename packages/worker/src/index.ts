/**
 * `@celeriac/worker`: consumes task messages, runs them with bounded concurrency, acks after
 * the task finished (at-least-once) and stores results.
 *
 * @example
 * ```ts
 * import { Celeriac } from '@celeriac/client';
 * import { Worker } from '@celeriac/worker';
 *
 * const app = new Celeriac({ broker: 'memory://' });
 * const add = app.task('tasks.add', (a: number, b: number) => a + b);
 * const worker = new Worker(app, { concurrency: 10 });
 * await worker.start();
 * console.log(await add.delay(2, 3).get({ timeout: 5 })); // 5
 * await worker.shutdown();
 * await app.close();
 * ```
 */
export { Worker } from './worker.js';
export type { WorkerState } from './worker.js';
export type { WorkerOptions } from './worker-options.js';
export { WorkerLostError } from './pools/worker-lost-error.js';
export type { PoolKind, PoolOptions } from './pools/pool-options.js';
export { startHealthServer } from './health.js';
export type { HealthOptions, HealthReport } from './health.js';
export type { HttpEndpoint, ListenOptions } from './http-listen.js';
export type { TaskObserver, RevokedInfo } from './observe.js';
