import { uniqueName } from '@celeriac/testing';
import { Redis } from 'ioredis';
import { inject, it } from 'vitest';
import { readRedisQueue, runBeatProcesses } from './beat-multiprocess.test-helper.js';
import { RedisScheduleStore } from './redis/redis-schedule-store.js';

const url = inject('redisUrl');
const LOCK_TTL_S = 4;
const RUN_MS = 60_000;

it(`three beat processes for 60 s: each run enqueued exactly once; the leader SIGKILLed, the runs go on within the lock TTL (${LOCK_TTL_S} s)`, async () => {
  const namespace = uniqueName('beat-mp');
  const queue = uniqueName('beat-mp-q');
  const redis = new Redis(url);
  const store = new RedisScheduleStore({ url, namespace });
  try {
    const report = await runBeatProcesses({
      storeUrl: url,
      brokerUrl: url,
      namespace,
      queue,
      lockTtlS: LOCK_TTL_S,
      runMs: RUN_MS,
      store,
      readPublished: () => readRedisQueue(redis, queue),
    });
    for (const line of report) console.log(line);
  } finally {
    const keys = await redis.keys(`_celeriac.beat.{${namespace}}.*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.del(queue);
    await store.close();
    await redis.quit();
  }
}, 120_000);
