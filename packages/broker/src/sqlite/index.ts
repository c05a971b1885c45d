/**
 * `@celeriac/broker/sqlite`: the embedded, durable default. Importing this subpath loads
 * better-sqlite3; nothing else in `@celeriac/broker` does.
 */
export { openSqlite, parseSqliteUrl, sqliteError, SqliteChangeFeed } from './connection.js';
export type {
  OpenSqliteOptions,
  SqliteChangeFeedOptions,
  SqliteDatabase,
  SqliteLocation,
} from './connection.js';
export { SqliteBroker } from './sqlite-broker.js';
export type { SqliteBrokerState } from './sqlite-broker.js';
export type { SqliteBrokerOptions, CompiledSqliteBrokerOptions } from './options.js';
export { compileSqliteBrokerOptions } from './options.js';
export { SqliteCoordination } from './sqlite-coordination.js';
export type { SqliteCoordinationOptions } from './sqlite-coordination.js';
