/**
 * `@celeriac/beat/postgres`: the PostgreSQL schedule store, for beat processes on any number of
 * hosts sharing one database (the tables are created on first use). A subpath of its own so
 * that `@celeriac/beat` never loads pg.
 *
 * @example
 * ```ts
 * import { Beat, crontab } from '@celeriac/beat';
 * import { PostgresScheduleStore } from '@celeriac/beat/postgres';
 *
 * const beat = new Beat(app, {
 *   store: new PostgresScheduleStore({ url: 'postgresql://beat:secret@db.internal:5432/app' }),
 *   entries: [{ name: 'cleanup', task: 'tasks.cleanup', schedule: crontab('0 3 * * *') }],
 * });
 * await beat.start();
 * ```
 */
export { PostgresScheduleStore } from './postgres-schedule-store.js';
export type { PostgresScheduleStoreOptions } from './postgres-schedule-store.js';
