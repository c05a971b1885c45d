import { afterAll, beforeAll, inject } from 'vitest';
import { brokerConformance, startRedisServer, type RedisServerHandle } from '@celeriac/testing';
import { RedisBroker } from './index.js';

// REDIS_URL, else the URL the @celeriac/testing global setup provides, else a server of our own.
let server: RedisServerHandle | undefined;
let url = '';
beforeAll(async () => {
  url = process.env['REDIS_URL'] ?? inject('redisUrl') ?? '';
  if (!url) {
    server = await startRedisServer();
    url = server.url;
  }
});
afterAll(async () => {
  await server?.stop();
});

brokerConformance(
  'RedisBroker',
  () => {
    const broker = new RedisBroker({ url });
    return Promise.resolve({ broker, close: () => broker.close() });
  },
  { priority: 'lower-first' },
);
