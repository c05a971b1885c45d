// Stores one result document in a SQLite result backend from a process of its own, for the
// cross-process test of SqliteResultBackend.waitFor.
//
//   node test-fixtures/store-result.js <sqliteUrl> <taskId> <resultJson>
//
// Exits 0 once the document is committed.
import { buildResultDocument } from '@celeriac/core';
import { SqliteResultBackend } from '@celeriac/result-backend/sqlite';

const [url, taskId, result] = process.argv.slice(2);
if (!url || !taskId || result === undefined) {
  process.stderr.write('usage: store-result.js <sqliteUrl> <taskId> <resultJson>\n');
  process.exit(2);
}
const backend = new SqliteResultBackend({ url });
await backend.store(buildResultDocument({ taskId, status: 'STARTED' }));
await backend.store(
  buildResultDocument({
    taskId,
    status: 'SUCCESS',
    result: JSON.parse(result),
    dateDone: new Date(),
  }),
);
await backend.close();
