import { afterAll, beforeAll } from 'vitest';
import { brokerConformance, startRedisCluster, type RedisClusterHandle } from '@celeriac/testing';
import { RedisBroker } from './index.js';

// The broker conformance suite on a 3-master Redis Cluster, in the cluster layout: every
// queue under its own hash tag (unsharded, so the suite's FIFO checks hold; sharding has its
// own tests in redis-cluster.integration.test.ts).
let cluster: RedisClusterHandle;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
});
afterAll(async () => {
  await cluster?.stop();
});

brokerConformance(
  'RedisBroker on a Redis Cluster',
  () => {
    const broker = new RedisBroker({ url: cluster.url });
    return Promise.resolve({ broker, close: () => broker.close() });
  },
  { priority: 'lower-first' },
);
