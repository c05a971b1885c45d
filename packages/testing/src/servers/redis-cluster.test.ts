import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startRedisCluster } from './redis-cluster.js';
import { respCommand } from './resp.js';

describe('startRedisCluster', () => {
  it('starts three masters with a replica each, covers every slot, fails over, and cleans up', async () => {
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    try {
      expect(cluster.nodes).toHaveLength(6);
      expect(cluster.url).toBe(
        `redis+cluster://${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
      );
      const first = await cluster.masterPort(0);
      const info = String(await respCommand(first, ['CLUSTER', 'INFO']));
      expect(info).toContain('cluster_state:ok');
      expect(info).toContain('cluster_slots_assigned:16384');
      expect(info).toContain('cluster_size:3');
      // Slot 0 ("{06S}" hashes to 0) is range 0's: the key is written on that master.
      expect(await respCommand(first, ['CLUSTER', 'KEYSLOT', '{06S}k'])).toBe(0);
      await respCommand(first, ['SET', '{06S}k', 'v']);
      await expect(
        respCommand(await cluster.masterPort(1), ['SET', '{06S}k', 'v']),
      ).rejects.toThrow(/MOVED 0 /);
      expect(await respCommand(first, ['WAIT', '1', '2000'])).toBe(1);

      // A manual failover keeps what was written; the old master becomes the replica.
      const promoted = await cluster.failover(0);
      expect(promoted).not.toBe(first);
      expect(await cluster.masterPort(0)).toBe(promoted);
      expect(await respCommand(promoted, ['GET', '{06S}k'])).toBe('v');

      // A killed master is replaced by its replica.
      const second = await cluster.masterPort(1);
      const replacement = await cluster.killMaster(1);
      expect(replacement).not.toBe(second);
      expect(cluster.nodes.find((n) => n.port === second)!.running).toBe(false);
      const after = String(await respCommand(replacement, ['CLUSTER', 'INFO']));
      expect(after).toContain('cluster_state:ok');
    } finally {
      await cluster.stop();
    }
    expect(existsSync(cluster.dir)).toBe(false);
    await expect(respCommand(cluster.nodes[0]!.port, ['PING'])).rejects.toThrow();
  }, 60_000);
});

describe('startRedisCluster with fewer than three masters', () => {
  it('joins one master and its replica by hand (redis-cli insists on three)', async () => {
    const cluster = await startRedisCluster({ masters: 1, replicasPerMaster: 1 });
    try {
      const master = await cluster.masterPort(0);
      const info = String(await respCommand(master, ['CLUSTER', 'INFO']));
      expect(info).toContain('cluster_state:ok');
      expect(info).toContain('cluster_size:1');
      const promoted = await cluster.failover(0);
      expect(promoted).not.toBe(master);
    } finally {
      await cluster.stop();
    }
  }, 60_000);
});
