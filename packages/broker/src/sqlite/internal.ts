/**
 * `@celeriac/broker/sqlite/internal`: the SQLite plumbing that Celeriac's other packages share
 * (the result backend, beat's schedule store, the coordination store) and the SQLite broker's
 * fused store-and-ack handle. **Not public API: it may change in any release.** Applications
 * import `@celeriac/broker/sqlite`.
 */
export {
  createTablesOnce,
  openSqlite,
  openSqliteWith,
  parseSqliteUrl,
  prepareStatements,
  sqliteError,
  SqliteChangeFeed,
} from './connection.js';
export type {
  OpenedSqlite,
  OpenSqliteOptions,
  SqliteChangeFeedOptions,
  SqliteDatabase,
  SqliteLocation,
} from './connection.js';
export { compileSqliteBrokerOptions, rejectUnknownKeys } from './options.js';
export type { CompiledSqliteBrokerOptions } from './options.js';
export { isSqliteFusedAck } from './sqlite-fused-ack.js';
export type { SqliteFusedAck } from './sqlite-fused-ack.js';
