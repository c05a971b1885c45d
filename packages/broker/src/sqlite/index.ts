/**
 * `@celeriac/broker/sqlite`: the embedded, durable default. Importing this subpath loads
 * better-sqlite3; nothing else in `@celeriac/broker` does.
 */
export { openSqlite, parseSqliteUrl, sqliteError, SqliteChangeFeed } from './connection.js';
export type { OpenSqliteOptions, SqliteChangeFeedOptions, SqliteDatabase, SqliteLocation } from './connection.js';
