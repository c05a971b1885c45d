import { afterAll, beforeAll } from 'vitest';
import {
  coordinationConformance,
  startRedisCluster,
  type RedisClusterHandle,
} from '@celeriac/testing';
import { RedisCoordination } from './redis-coordination.js';

// The coordination conformance suite on a 3-master Redis Cluster: every script touches one
// key (a revoked set, a rate key, a uniqueness key), and revocations are announced with a
// PUBLISH, which a cluster broadcasts to every node.
let cluster: RedisClusterHandle;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
});
afterAll(async () => {
  await cluster?.stop();
});

coordinationConformance('RedisCoordination on a Redis Cluster', async () => {
  const a = new RedisCoordination({ url: cluster.url });
  const b = new RedisCoordination({ url: cluster.url });
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
});
