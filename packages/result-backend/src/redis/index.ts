/**
 * `@celeriac/result-backend/redis`: results in Redis with Celery's layout
 * (`celery-task-meta-<id>`, JSON, TTL, published on the key's channel), so Python Celery
 * clients and Celeriac workers read each other's results.
 *
 * @example
 * ```ts
 * import { buildResultDocument } from '@celeriac/core';
 * import { RedisResultBackend } from '@celeriac/result-backend/redis';
 *
 * const backend = new RedisResultBackend({ url: 'redis://localhost:6379/0' });
 * const waiting = backend.waitFor('3f1c…', { timeoutMs: 10_000 });
 * await backend.store(
 *   buildResultDocument({ taskId: '3f1c…', status: 'SUCCESS', result: 5, dateDone: new Date() }),
 * );
 * console.log((await waiting).result); // 5
 * await backend.close();
 * ```
 */
export { RedisResultBackend } from './redis-result-backend.js';
export type { RedisResultBackendOptions } from './redis-result-backend.js';
export { CELERY_TASK_KEY_PREFIX } from './keys.js';
