/**
 * `@celeriac/broker/coordination`: the `Coordination` contract (revocations, rate limits,
 * uniqueness claims) that workers and clients share, chosen by URL scheme. `memory://` is
 * built in; `redis://` loads `@celeriac/broker/coordination/redis` (and ioredis) and
 * `sqlite://` loads `@celeriac/broker/coordination/sqlite` (and better-sqlite3) only when
 * asked for, so importing this subpath loads neither driver.
 *
 * @example
 * ```ts
 * import { createCoordination } from '@celeriac/broker/coordination';
 *
 * const coordination = await createCoordination('memory://');
 * await coordination.revoke(['3f1c…'], { terminate: false, ttlMs: 60_000 });
 * const watch = await coordination.watchRevocations((r) => console.log('revoked', r.id));
 * console.log(watch.current.map((r) => r.id)); // ['3f1c…']
 * await watch.stop();
 * await coordination.close();
 * ```
 */
export { createCoordination } from './create-coordination.js';
export type { CreateCoordinationOptions } from './create-coordination.js';
export { MemoryCoordination } from './memory-coordination.js';
export type { MemoryCoordinationOptions } from './memory-coordination.js';
export type { RedisCoordinationOptions } from './redis-coordination.js';
export type { SqliteCoordinationOptions } from './sqlite-coordination.js';
