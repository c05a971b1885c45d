import type { TestProject } from 'vitest/node';
import type {} from './index.js';
import { startRedisServer, type RedisServerHandle } from './servers/redis-server.js';

let redis: RedisServerHandle | undefined;

/**
 * Vitest global setup for packages whose tests need real servers. Unless `REDIS_URL` names a
 * server to use, it starts a throwaway redis-server on a free port and stops it afterwards.
 * Tests read the URL with `inject('redisUrl')` and keep to keys and queues they created.
 */
export async function setup(project: TestProject): Promise<void> {
  const fromEnv = process.env['REDIS_URL'];
  if (fromEnv) {
    project.provide('redisUrl', fromEnv);
  } else {
    redis = await startRedisServer();
    project.provide('redisUrl', redis.url);
  }
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}
