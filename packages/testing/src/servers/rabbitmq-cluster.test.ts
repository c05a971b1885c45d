import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startRabbitMqCluster } from './rabbitmq-cluster.js';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('startRabbitMqCluster', () => {
  it('forms a 3-node cluster, takes a node out and back, and cleans up', async () => {
    const cluster = await startRabbitMqCluster({ nodes: 3 });
    try {
      const names = cluster.nodes.map((n) => n.nodeName);
      expect(names).toHaveLength(3);
      expect(new Set(names).size).toBe(3);
      expect(names.every((n) => /^rabbit-[0-9a-f]{8}-[1-3]@localhost$/.test(n))).toBe(true);
      expect(new Set(cluster.nodes.map((n) => n.port)).size).toBe(3);
      expect(cluster.url).toBe(cluster.urls.join(';'));
      expect(await cluster.runningNodes()).toEqual([...names].sort());

      await cluster.stopNode(0);
      expect(await portOpen(cluster.nodes[0]!.port)).toBe(false);
      expect(await cluster.runningNodes()).toEqual([names[1], names[2]].sort());
      // The others still know it as a member, only not running.
      const status = JSON.parse(
        await cluster.nodes[1]!.ctl(['cluster_status', '--formatter', 'json']),
      ) as { disk_nodes: string[] };
      expect([...status.disk_nodes].sort()).toEqual([...names].sort());

      await cluster.startNode(0);
      expect(await cluster.runningNodes()).toEqual([...names].sort());
    } finally {
      await cluster.stop();
    }
    for (const n of cluster.nodes) expect(existsSync(n.dataDir)).toBe(false);
  }, 180_000);
});
