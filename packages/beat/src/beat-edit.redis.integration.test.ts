import { uniqueName } from '@celeriac/testing';
import { Redis } from 'ioredis';
import { afterAll, inject, it } from 'vitest';
import { editsActedOnAtOnce } from './beat-edit.test-helper.js';
import { RedisScheduleStore } from './redis/redis-schedule-store.js';

const url = inject('redisUrl');
const namespace = uniqueName('beat-edit');

afterAll(async () => {
  const redis = new Redis(url);
  const keys = await redis.keys(`_celeriac.beat.{${namespace}}.*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

it('on Redis, an edit through another store instance is acted on by the leader at once (PUBLISH), not at its next poll', async () => {
  await editsActedOnAtOnce((origin) => new RedisScheduleStore({ url, namespace, origin }));
});
