import { startPostgresServer, uniqueName } from '@celeriac/testing';
import { Redis } from 'ioredis';
import { inject, it } from 'vitest';
import { readRedisQueue, runBeatProcesses } from '../beat-multiprocess.test-helper.js';
import { PostgresScheduleStore } from './postgres-schedule-store.js';

const redisUrl = inject('redisUrl');
const LOCK_TTL_S = 3;
const RUN_MS = 60_000;

// The schedule, the leader lock and the claims in PostgreSQL (a throwaway cluster of the
// test's own); the beats publish to Redis. The leader is SIGKILLed, the beat that takes over
// is SIGSTOPped past its lock TTL and then SIGCONTed.
it(`three beat processes on PostgreSQL for ${RUN_MS / 1000} s: each run enqueued exactly once; the leader SIGKILLed, the next one SIGSTOPped past the lock TTL (${LOCK_TTL_S} s) then SIGCONTed`, async () => {
  const server = await startPostgresServer();
  const namespace = uniqueName('beat-mp');
  const queue = uniqueName('beat-mp-q');
  const redis = new Redis(redisUrl);
  const store = new PostgresScheduleStore({ url: server.url, namespace });
  try {
    const report = await runBeatProcesses({
      storeUrl: server.url,
      brokerUrl: redisUrl,
      namespace,
      queue,
      lockTtlS: LOCK_TTL_S,
      runMs: RUN_MS,
      store,
      pauseTakeover: true,
      readPublished: () => readRedisQueue(redis, queue),
    });
    for (const line of report) console.log(line);
  } finally {
    await redis.del(queue);
    await store.close();
    await redis.quit();
    await server.stop();
  }
}, 120_000);
