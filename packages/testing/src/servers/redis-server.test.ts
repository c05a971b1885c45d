import { describe, expect, it } from 'vitest';
import { createConnection } from 'node:net';
import { existsSync } from 'node:fs';
import { startRedisServer } from './redis-server.js';

function ping(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().trim());
    });
    s.once('error', reject);
  });
}

describe('startRedisServer', () => {
  it('starts on a free port, restarts on the same port, and cleans up its data directory', async () => {
    const redis = await startRedisServer({ appendOnly: true });
    try {
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      expect(await ping(redis.port)).toBe('+PONG');
      await redis.kill();
      await expect(ping(redis.port)).rejects.toThrow();
      await redis.start();
      expect(await ping(redis.port)).toBe('+PONG');
    } finally {
      await redis.stop();
    }
    expect(existsSync(redis.dataDir)).toBe(false);
  });
});
