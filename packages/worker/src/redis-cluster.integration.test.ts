/**
 * A worker and a client on a Redis Cluster (`redis+cluster://…`, the cluster layout): a queue
 * sharded over six hash tags, so over all three masters, takes 10,000 tasks while one master
 * fails over to its replica (`CLUSTER FAILOVER`, as an operator moves a master for
 * maintenance), and every task completes with its result in the result backend (on the
 * cluster too), with neither the worker nor the client restarted.
 *
 * Why nothing is lost: a manual failover waits for the replica to have everything the master
 * took before it switches (the master pauses its clients meanwhile), and commands sent to the
 * old master afterwards are redirected (MOVED) by ioredis. Messages the worker held when an
 * ack failed are restored after the visibility timeout (5 s here), as after a crash, so a
 * task may run twice (counted as reruns) but never not at all. A SIGKILLed master can lose
 * the writes it had not yet replicated (replication is asynchronous, and WAIT cannot be used
 * on a cluster): see docs/redis.md, "Redis Cluster".
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, type AsyncResult } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { respCommand, startRedisCluster, uniqueName } from '@celeriac/testing';
import { Worker } from './index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const TOTAL = 10_000;
const SHARDS = 6;

describe('worker on a Redis Cluster', () => {
  it('completes 10,000 tasks of a sharded queue through a failover of one master, none lost', async () => {
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    cleanups.push(() => cluster.stop());
    const queue = uniqueName('cluster');
    const brokerOptions = { visibilityTimeout: 5, restoreIntervalMs: 500, shards: SHARDS };
    const appOn = (): Celeriac => {
      const app = new Celeriac({
        broker: cluster.url,
        backend: cluster.url,
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
    workerApp.task('tasks.work', (n: number) => {
      runs += 1;
      seen.add(n);
      return n;
    });
    const worker = new Worker(workerApp, { concurrency: 20 });
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

    // The shards are spread over the masters: the keys of the six tags are in slots of all three.
    const slots = await Promise.all(
      Array.from({ length: SHARDS }, (_, i) =>
        respCommand(cluster.nodes[0]!.port, [
          'CLUSTER',
          'KEYSLOT',
          i === 0 ? `{${queue}}:ready` : `{${queue}{${i}}:ready`,
        ]),
      ),
    );
    // Range i of the three starts at slot ⌈16384·i/3⌉ (as `redis-cli --cluster create` splits them).
    const ranges = slots.map((s) => Math.floor((Number(s) * 3) / 16384));
    expect(new Set(ranges).size).toBeGreaterThan(1);
    // The master failed over is the one serving shard 0.
    const victim = ranges[0]!;

    const results: Promise<number>[] = [];
    const publishing = (async () => {
      for (let i = 0; i < TOTAL; i += 100) {
        const chunk = Array.from({ length: Math.min(100, TOTAL - i) }, (_, k) => publish(i + k));
        for (const r of chunk) {
          const value = r.then((result) => result.get({ timeout: 60 }));
          value.catch(() => undefined); // awaited below, all together
          results.push(value);
        }
        await Promise.all(chunk);
      }
    })();

    await expect.poll(() => seen.size, { timeout: 30_000, interval: 5 }).toBeGreaterThan(2000);
    const startedAt = Date.now();
    const seenAtFailover = seen.size;
    const oldMaster = await cluster.masterPort(victim);
    const newMaster = await cluster.failover(victim);
    const failoverMs = Date.now() - startedAt;

    await publishing;
    const values = await Promise.all(results);
    const doneMs = Date.now() - startedAt;
    expect(values).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
    expect(seen.size).toBe(TOTAL);
    expect(seenAtFailover).toBeLessThan(TOTAL);
    expect(newMaster).not.toBe(oldMaster);
    expect(worker.state).toBe('running');
    // Every shard is drained: nothing ready, delayed or in flight is left anywhere.
    const broker = await client.broker();
    expect(await broker.count(queue)).toBe(0);
    console.info(
      `cluster failover: replica promoted in ${failoverMs} ms; all ${TOTAL} done at +${doneMs} ms ` +
        `(${seenAtFailover} done before the failover, ${runs - TOTAL} reruns, ${publishRetries} publish retries)`,
    );
  }, 90_000);

  it('carries on after a master is SIGKILLed: tasks sent once its replica took over complete, nothing restarted', async () => {
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    cleanups.push(() => cluster.stop());
    const queue = uniqueName('cluster-kill');
    const brokerOptions = { visibilityTimeout: 5, restoreIntervalMs: 500, shards: 3 };
    const appOn = (): Celeriac => {
      const app = new Celeriac({
        broker: cluster.url,
        backend: cluster.url,
        logger: silentLogger,
        defaultQueue: queue,
        brokerOptions,
      });
      cleanups.push(() => app.close());
      return app;
    };
    const workerApp = appOn();
    const seen = new Set<string>();
    workerApp.task('tasks.echo', (s: string) => {
      seen.add(s);
      return s;
    });
    const worker = new Worker(workerApp, { concurrency: 10 });
    await worker.start();
    cleanups.push(() => worker.shutdown({ timeout: 2 }));
    const client = appOn();
    const echo = async (s: string): Promise<string> => {
      for (;;) {
        const r = client.sendTask<string>('tasks.echo', [s]);
        try {
          await r.published;
        } catch {
          continue; // a publish racing the switch: sent again, as an application would
        }
        return r.get({ timeout: 30 });
      }
    };
    expect(await Promise.all(['a0', 'a1', 'a2'].map(echo))).toEqual(['a0', 'a1', 'a2']);

    // Whichever masters serve the three shards, killing master 0's range hits one of them
    // or the results' keys; the client, the worker and their subscribers find the new one.
    const killed = await cluster.masterPort(0);
    const promoted = await cluster.killMaster(0);
    expect(promoted).not.toBe(killed);
    const after = Array.from({ length: 30 }, (_, i) => `b${i}`);
    expect(await Promise.all(after.map(echo))).toEqual(after);
    for (const s of after) expect(seen.has(s)).toBe(true);
    expect(worker.state).toBe('running');
  }, 90_000);
});
