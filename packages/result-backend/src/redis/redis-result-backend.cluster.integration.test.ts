import {
  resultBackendConformance,
  startRedisCluster,
  type RedisClusterHandle,
} from '@celeriac/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisResultBackend } from './index.js';

// The result backend conformance suite on a 3-master Redis Cluster: results are single keys
// (stores go one per script call there), reads of several keys one GET each, and a chord's
// join keys share the group id as hash tag.
let cluster: RedisClusterHandle;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
});

afterAll(async () => {
  await cluster?.stop();
});

resultBackendConformance('RedisResultBackend on a Redis Cluster', () => {
  const backend = new RedisResultBackend({ url: cluster.url });
  return Promise.resolve({ backend, close: () => backend.close() });
});

describe('RedisResultBackend on a Redis Cluster', () => {
  it('joins a chord whose parts land on different masters (the join keys share the group tag)', async () => {
    const backend = new RedisResultBackend({ url: cluster.url });
    try {
      const groupId = `g-${Date.now()}`;
      await backend.setChordSize(groupId, 3);
      const joins = [];
      for (let i = 0; i < 3; i++) {
        joins.push(
          await backend.chordPartReturned({
            groupId,
            taskId: `t-${i}-${groupId}`,
            groupIndex: i,
            state: 'SUCCESS',
            result: i * 10,
            chord: {
              task: 'body',
              args: [],
              kwargs: {},
              options: {},
              subtask_type: null,
              immutable: false,
            },
          }),
        );
      }
      expect(joins.slice(0, 2)).toEqual([undefined, undefined]);
      expect(joins[2]).toMatchObject({ kind: 'complete', results: [0, 10, 20], repeat: false });
      await joins[2]!.release();
    } finally {
      await backend.close();
    }
  });

  it('refuses waitReplicas, which WAIT cannot honour on a cluster', () => {
    expect(() => new RedisResultBackend({ url: cluster.url, waitReplicas: 1 })).toThrow(
      /not supported on a Redis Cluster/,
    );
  });
});
