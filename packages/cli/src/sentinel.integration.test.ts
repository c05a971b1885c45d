/**
 * The `celeriac` command on Redis Sentinel, as real processes: a `celeriac worker` given a
 * `sentinel://` URL runs what `celeriac call --wait` sends, before and after its master is
 * SIGKILLed and a replica promoted, without being restarted; a Sentinel URL without a master
 * name is refused with one line saying how to fix it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisSentinel, uniqueName, type RedisSentinelHandle } from '@celeriac/testing';
import { runCli, startWorkerProcess } from './spawn-cli.test-helper.js';

let group: RedisSentinelHandle;
beforeAll(async () => {
  group = await startRedisSentinel();
}, 30_000);
afterAll(async () => {
  await group?.stop();
});

describe('celeriac on sentinel://', () => {
  it('a worker process carries on through a failover; `call --wait` works before and after', async () => {
    const queue = uniqueName('sentinel');
    const env = { CELERIAC_BROKER_URL: group.url };
    const call = (a: number, b: number) =>
      runCli(
        ['call', 'fx.add', '--args', `[${a}, ${b}]`, '-Q', queue, '--wait', '--timeout', '30'],
        env,
      );
    const worker = await startWorkerProcess(['-Q', queue, '-c', '4', '--loglevel', 'info'], env);
    try {
      const before = await call(2, 3);
      expect(before.stderr).toBe('');
      expect(before.stdout.trim()).toBe('5');

      const old = await group.killMaster();
      await group.waitForFailover(old);
      const after = await call(20, 22);
      expect(after.stderr).toBe('');
      expect(after.stdout.trim()).toBe('42');
      expect(worker.child.exitCode).toBeNull();
    } finally {
      worker.child.kill('SIGTERM');
    }
    expect(await worker.exited).toBe(0);
  }, 60_000);

  it('refuses a Sentinel URL without a master name in one line', async () => {
    const url = group.url.replace(/\?.*$/, '');
    const r = await runCli(['call', 'fx.add', '--args', '[1, 2]', '--broker', url]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/CELERIAC_ERR_INVALID_URL|names no master/);
    expect(r.stderr).toMatch(/\?master_name=mymaster/);
  });
});
