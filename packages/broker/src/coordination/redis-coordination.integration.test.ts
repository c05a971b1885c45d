import { inject } from 'vitest';
import { coordinationConformance } from '@celeriac/testing';
import { RedisCoordination } from './redis-coordination.js';

const url = inject('redisUrl');

coordinationConformance('RedisCoordination', async () => {
  const a = new RedisCoordination({ url });
  const b = new RedisCoordination({ url });
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
});
