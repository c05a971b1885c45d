import {
  resultBackendConformance,
  startRedisServer,
  type RedisServerHandle,
} from '@celeriac/testing';
import { afterAll, beforeAll } from 'vitest';
import { RedisResultBackend } from './index.js';

let server: RedisServerHandle | undefined;
let url: string;

beforeAll(async () => {
  const fromEnv = process.env['REDIS_URL'];
  if (fromEnv) {
    url = fromEnv;
  } else {
    server = await startRedisServer();
    url = server.url;
  }
});

afterAll(async () => {
  await server?.stop();
});

resultBackendConformance('RedisResultBackend', () => {
  const backend = new RedisResultBackend({ url });
  return Promise.resolve({ backend, close: () => backend.close() });
});
