import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startRedisSentinel } from './redis-sentinel.js';
import { respCommand, respInfo } from './resp.js';

const here = dirname(fileURLToPath(import.meta.url));

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

describe('startRedisSentinel at process exit', () => {
  it('a test process that exits without stop() leaves no redis-server running', async () => {
    // A child process starts a group and exits at once, as a crashed or timed-out test would.
    const script = `
      import { startRedisSentinel } from '${pathToFileURL(join(here, 'redis-sentinel.ts')).href}';
      const g = await startRedisSentinel();
      console.log(JSON.stringify([...g.sentinelPorts, ...g.nodes.map((n) => n.port)]));
      process.exit(0);
    `;
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
      },
    );
    const ports = JSON.parse(out.trim().split('\n').at(-1) ?? '[]') as number[];
    expect(ports).toHaveLength(5);
    const alive = async (): Promise<number[]> => {
      const up: number[] = [];
      for (const port of ports) {
        try {
          await respCommand(port, ['PING']);
          up.push(port);
        } catch {
          // refused: gone
        }
      }
      return up;
    };
    try {
      await expect.poll(alive, { timeout: 10_000, interval: 50 }).toEqual([]);
    } finally {
      for (const port of await alive())
        await respCommand(port, ['SHUTDOWN', 'NOSAVE']).catch(() => undefined);
    }
  }, 60_000);
});
