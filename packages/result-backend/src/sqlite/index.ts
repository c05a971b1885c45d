/**
 * `@celeriac/result-backend/sqlite`: results in a SQLite file (better-sqlite3), shared by every
 * process on the host that opens it; no server. Importing this subpath is what loads
 * better-sqlite3.
 *
 * @example
 * ```ts
 * import { buildResultDocument } from '@celeriac/core';
 * import { SqliteResultBackend } from '@celeriac/result-backend/sqlite';
 *
 * const backend = new SqliteResultBackend({ url: 'sqlite://./celeriac.db' });
 * const waiting = backend.waitFor('3f1c…', { timeoutMs: 10_000 });
 * await backend.store(buildResultDocument({ taskId: '3f1c…', status: 'SUCCESS', result: 5 }));
 * console.log((await waiting).result); // 5
 * await backend.close();
 * ```
 */
export { SqliteResultBackend } from './sqlite-result-backend.js';
export { compileSqliteResultBackendOptions } from './options.js';
export type { CompiledSqliteResultBackendOptions, SqliteResultBackendOptions } from './options.js';
