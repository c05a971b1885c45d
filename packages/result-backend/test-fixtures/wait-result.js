// Waits, with no timeout, for one task's result in a SQLite result backend from a process of
// its own, and prints the result as JSON. Nothing else keeps the process alive meanwhile.
//
//   node test-fixtures/wait-result.js <sqliteUrl> <taskId>
//
// Prints "waiting" once the wait is registered, then the result.
import { SqliteResultBackend } from '@celeriac/result-backend/sqlite';

const [url, taskId] = process.argv.slice(2);
if (!url || !taskId) {
  process.stderr.write('usage: wait-result.js <sqliteUrl> <taskId>\n');
  process.exit(2);
}
const backend = new SqliteResultBackend({ url });
const done = backend.waitFor(taskId);
process.stdout.write('waiting\n');
const doc = await done;
process.stdout.write(`${JSON.stringify(doc.result)}\n`);
await backend.close();
