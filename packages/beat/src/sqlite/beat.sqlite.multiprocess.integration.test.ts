import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueName } from '@celeriac/testing';
import { Redis } from 'ioredis';
import { inject, it } from 'vitest';
import { readRedisQueue, runBeatProcesses } from '../beat-multiprocess.test-helper.js';
import { SqliteScheduleStore } from './sqlite-schedule-store.js';

const redisUrl = inject('redisUrl');
const LOCK_TTL_S = 3;
const RUN_MS = 30_000;

// The schedule, the lock and the claims are in one SQLite file shared by three processes.
// The beats publish through the Redis broker until the SQLite broker is on main; then the
// broker URL becomes the same sqlite:// file and the queue is read through it.
it(`three beat processes on one SQLite file for ${RUN_MS / 1000} s: each run enqueued exactly once; the leader SIGKILLed, the runs go on within the lock TTL (${LOCK_TTL_S} s)`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-beat-mp-'));
  const storeUrl = `sqlite://${join(dir, 'celeriac.db')}`;
  const namespace = uniqueName('beat-mp');
  const queue = uniqueName('beat-mp-q');
  const redis = new Redis(redisUrl);
  const store = new SqliteScheduleStore({ url: storeUrl, namespace });
  try {
    const report = await runBeatProcesses({
      storeUrl,
      brokerUrl: redisUrl,
      namespace,
      queue,
      lockTtlS: LOCK_TTL_S,
      runMs: RUN_MS,
      store,
      readPublished: () => readRedisQueue(redis, queue),
    });
    for (const line of report) console.log(line);
  } finally {
    await redis.del(queue);
    await redis.quit();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 90_000);
