/**
 * A worker whose Redis went away still stops on SIGTERM. Its consumer's blocking connection,
 * reconnecting, never answers a command again once disconnected, and every other command
 * waits through all of ioredis' retries: the worker stayed up for good (an orchestrator would
 * have had to SIGKILL it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, uniqueName, type RedisServerHandle } from '@celeriac/testing';
import { startWorkerProcess } from './spawn-cli.test-helper.js';

let server: RedisServerHandle;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

describe('celeriac worker with its broker gone', () => {
  it('SIGTERM stops it: warm shutdown ends with exit code 0', async () => {
    const worker = await startWorkerProcess(
      ['-Q', uniqueName('broker-down'), '-c', '2', '-E', '--broker', server.url],
      {},
    );
    try {
      await server.kill();
      await worker.waitForLog('lost the Redis broker', 30_000);
      const before = worker.log().length;
      worker.child.kill('SIGTERM');
      await worker.waitForLog('worker stopped', 30_000, before);
      expect(await worker.exited).toBe(0);
    } finally {
      worker.child.kill('SIGKILL');
    }
  }, 90_000);
});
