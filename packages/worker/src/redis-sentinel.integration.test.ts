/**
 * A worker and a client on Redis Sentinel (`sentinel://…`) through a failover: the master is
 * SIGKILLed mid-run, the sentinels promote a replica, and every task completes with its result
 * in the result backend (through Sentinel too), with neither the worker nor the client
 * restarted. Every connection finds the new master by itself: the command connections, the
 * consumer's blocking reads, the subscribers (result waits, remote control), and the Lua
 * scripts, which the promoted replica does not have cached (NOSCRIPT, then EVAL).
 *
 * Why nothing is lost:
 * - `?wait_replicas=1` makes each publish and each stored result wait for a replica's
 *   confirmation (Redis `WAIT`), so nothing the client or the worker was told is written can
 *   be lost with the master: replication is asynchronous, and a write the master acknowledged
 *   just before it died may not have reached the replica. Two replicas, so that after the
 *   failover one is left to confirm writes.
 * - Messages the worker had fetched when the connection broke are restored after the
 *   visibility timeout (5 s here), as after a worker crash.
 * - A publish that fails (NOT_REPLICATED while the remaining replica resyncs with the new
 *   master) is sent again with the same task id, as an application would: at least once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, type AsyncResult } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { respInfo, startRedisSentinel, uniqueName } from '@celeriac/testing';
import { Worker } from './index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const TOTAL = 5000;

describe('worker on Redis Sentinel', () => {
  it('completes 5,000 tasks through a failover of the master, none lost, nothing restarted', async () => {
    const group = await startRedisSentinel({ replicas: 2 });
    cleanups.push(() => group.stop());
    const url = `${group.url}&wait_replicas=1`;
    const queue = uniqueName('sentinel');
    const brokerOptions = { visibilityTimeout: 5, restoreIntervalMs: 500 };
    const appOn = (): Celeriac => {
      const app = new Celeriac({
        broker: url,
        backend: url,
        logger: silentLogger,
        defaultQueue: queue,
        brokerOptions,
      });
      cleanups.push(() => app.close());
      return app;
    };

    const workerApp = appOn();
    const seen = new Set<number>();
    let runs = 0;
    const completedAt: number[] = [];
    workerApp.task('tasks.work', async (n: number) => {
      runs += 1;
      await new Promise((r) => setTimeout(r, 5));
      seen.add(n);
      completedAt.push(Date.now());
      return n;
    });
    const worker = new Worker(workerApp, { concurrency: 10 });
    await worker.start();
    cleanups.push(() => worker.shutdown({ timeout: 2 }));

    const client = appOn();
    let publishRetries = 0;
    const publish = async (n: number): Promise<AsyncResult<number>> => {
      const taskId = `${queue}-${n}`;
      for (;;) {
        const r = client.sendTask<number>('tasks.work', [n], {}, { taskId });
        try {
          await r.published;
          return r;
        } catch {
          publishRetries += 1;
        }
      }
    };

    // Publish at a pace the worker keeps up with, so the kill lands while both are busy.
    // Each result is waited for from its publish on: the waits of the tasks sent before the
    // kill span the failover (the backend's subscriber must resubscribe and read again).
    const results: Promise<number>[] = [];
    const publishing = (async () => {
      for (let i = 0; i < TOTAL; i += 25) {
        const chunk = Array.from({ length: Math.min(25, TOTAL - i) }, (_, k) => publish(i + k));
        for (const r of chunk) {
          const value = r.then((result) => result.get({ timeout: 60 }));
          value.catch(() => undefined); // awaited below, all together
          results.push(value);
        }
        await Promise.all(chunk);
      }
    })();

    await expect.poll(() => seen.size, { timeout: 30_000, interval: 5 }).toBeGreaterThan(800);
    const killedAt = Date.now();
    const oldMaster = await group.killMaster();
    const seenAtKill = seen.size;
    const newMaster = await group.waitForFailover(oldMaster);
    const failoverMs = Date.now() - killedAt;
    // A task sent now, through the same client, answered by the same worker.
    const probe = await publish(-1);
    const publishedMs = Date.now() - killedAt;
    expect(await probe.get({ timeout: 30 })).toBe(-1);
    const recoveredMs = Date.now() - killedAt;

    await publishing;
    const values = await Promise.all(results);
    const doneMs = Date.now() - killedAt;
    expect(values).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
    expect(seen.size).toBe(TOTAL + 1);
    expect(seenAtKill).toBeLessThan(TOTAL);
    expect(worker.state).toBe('running');
    expect(newMaster).not.toBe(oldMaster);
    // The new master had no script cached: the broker and backend loaded theirs again.
    const errors = await respInfo(newMaster, 'errorstats');
    expect(errors.get('errorstat_NOSCRIPT')).toMatch(/^count=\d+/);

    // The worker's own outage: the longest stretch after the kill in which no task completed.
    let stalledMs = 0;
    const after = completedAt.filter((t) => t >= killedAt);
    for (let i = 1; i < after.length; i++)
      stalledMs = Math.max(stalledMs, after[i]! - after[i - 1]!);
    console.info(
      `sentinel failover: sentinels promoted a replica ${failoverMs} ms after the SIGKILL; ` +
        `the worker ran no task for ${stalledMs} ms; a new task was published at +${publishedMs} ms and its result back at +${recoveredMs} ms; all ${TOTAL} done at +${doneMs} ms ` +
        `(${seenAtKill} done before the kill, ${runs - TOTAL - 1} reruns, ${publishRetries} publish retries)`,
    );
  }, 90_000);
});
