/**
 * `@celeriac/beat/redis`: the Redis schedule store, the one to share between beat processes.
 * A subpath of its own so that `@celeriac/beat` never loads ioredis.
 *
 * @example
 * ```ts
 * import { Beat, crontab } from '@celeriac/beat';
 * import { RedisScheduleStore } from '@celeriac/beat/redis';
 *
 * const beat = new Beat(app, {
 *   store: new RedisScheduleStore({ url: 'redis://localhost:6379/0' }),
 *   entries: [{ name: 'cleanup', task: 'tasks.cleanup', schedule: crontab('0 3 * * *') }],
 * });
 * await beat.start();
 * ```
 */
export { RedisScheduleStore } from './redis-schedule-store.js';
export type { RedisScheduleStoreOptions } from './redis-schedule-store.js';
export { beatKeys } from './keys.js';
export type { BeatKeys } from './keys.js';
