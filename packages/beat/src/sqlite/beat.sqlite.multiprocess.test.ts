import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueName } from '@celeriac/testing';
import { it } from 'vitest';
import { readSqliteQueue, runBeatProcesses } from '../beat-multiprocess.test-helper.js';
import { SqliteScheduleStore } from './sqlite-schedule-store.js';

const LOCK_TTL_S = 3;
const RUN_MS = 30_000;

// Everything in one SQLite file shared by three processes and this one: the schedule, the
// leader lock and the claims (the SQLite schedule store), and the queue the beats publish to
// (the SQLite broker). No server.
it(`three beat processes on one SQLite file for ${RUN_MS / 1000} s: each run enqueued exactly once; the leader SIGKILLed, the runs go on within the lock TTL (${LOCK_TTL_S} s)`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-beat-mp-'));
  const url = `sqlite://${join(dir, 'celeriac.db')}`;
  const namespace = uniqueName('beat-mp');
  const queue = uniqueName('beat-mp-q');
  const store = new SqliteScheduleStore({ url, namespace });
  try {
    const report = await runBeatProcesses({
      storeUrl: url,
      brokerUrl: url,
      namespace,
      queue,
      lockTtlS: LOCK_TTL_S,
      runMs: RUN_MS,
      store,
      readPublished: () => readSqliteQueue(url, queue),
    });
    for (const line of report) console.log(line);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 90_000);
