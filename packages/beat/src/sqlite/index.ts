/**
 * `@celeriac/beat/sqlite`: the SQLite schedule store, for several beat processes on one host
 * sharing a file (usually the SQLite broker's). A subpath of its own so that `@celeriac/beat`
 * never loads better-sqlite3.
 *
 * @example
 * ```ts
 * import { Beat, crontab } from '@celeriac/beat';
 * import { SqliteScheduleStore } from '@celeriac/beat/sqlite';
 *
 * const beat = new Beat(app, {
 *   store: new SqliteScheduleStore({ url: 'sqlite://./celeriac.db' }),
 *   entries: [{ name: 'cleanup', task: 'tasks.cleanup', schedule: crontab('0 3 * * *') }],
 * });
 * await beat.start();
 * ```
 */
export { SqliteScheduleStore } from './sqlite-schedule-store.js';
export type { SqliteScheduleStoreOptions } from './sqlite-store-options.js';
