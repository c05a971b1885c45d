import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startRedisSentinel } from './redis-sentinel.js';
import { respCommand, respInfo } from './resp.js';

describe('startRedisSentinel', () => {
  it('starts a master, a replica and three sentinels, fails over when the master dies, and cleans up', async () => {
    const group = await startRedisSentinel();
    try {
      expect(group.sentinelPorts).toHaveLength(3);
      expect(group.url).toBe(
        `${group.sentinelPorts.map((p) => `sentinel://127.0.0.1:${p}`).join(';')}/0?master_name=mymaster`,
      );
      const master = await group.masterPort();
      expect((await respInfo(master, 'replication')).get('role')).toBe('master');
      // What the master takes, its replica has (replication is what a failover relies on).
      await respCommand(master, ['SET', 'k', 'v']);
      expect(await respCommand(master, ['WAIT', '1', '2000'])).toBe(1);
      const replica = group.nodes.find((n) => n.port !== master)!;
      expect(await respCommand(replica.port, ['GET', 'k'])).toBe('v');

      const started = Date.now();
      expect(await group.killMaster()).toBe(master);
      const promoted = await group.waitForFailover(master);
      const failoverMs = Date.now() - started;
      expect(promoted).toBe(replica.port);
      expect(await respCommand(promoted, ['GET', 'k'])).toBe('v');
      expect(group.nodes.find((n) => n.port === master)!.running).toBe(false);
      // down-after-milliseconds is 1000: the failover cannot be faster, and should not take long.
      expect(failoverMs).toBeGreaterThanOrEqual(1000);
      expect(failoverMs).toBeLessThan(15_000);
    } finally {
      await group.stop();
    }
    expect(existsSync(group.dir)).toBe(false);
    await expect(respCommand(group.sentinelPorts[0]!, ['PING'])).rejects.toThrow();
  }, 60_000);
});
