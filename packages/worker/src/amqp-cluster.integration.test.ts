/**
 * A worker and its clients on a 3-node RabbitMQ cluster with quorum queues, given the nodes as a
 * URL list with node A first: A is stopped in the middle of a few thousand tasks, and every task
 * still completes, the same worker carrying on from another node. The rpc:// reply queue and the
 * remote control queues (non-durable, on A) are declared again on the new node. Then, A back, the
 * same with node B killed (SIGKILL) instead of stopped. One cluster is shared by the cases of
 * this file.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { ErrorCodes, isCeleriacError, silentLogger, type Logger } from '@celeriac/core';
import { AmqpBroker } from '@celeriac/broker/amqp';
import { startRabbitMqCluster, uniqueName, type RabbitMqClusterHandle } from '@celeriac/testing';
import { Worker } from './index.js';

let cluster: RabbitMqClusterHandle;
beforeAll(async () => {
  cluster = await startRabbitMqCluster({ nodes: 3 });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

/** The indexes of the nodes not running. */
async function downNodes(): Promise<number[]> {
  const running = await cluster.runningNodes();
  return [0, 1, 2].filter((i) => !running.includes(cluster.nodes[i]!.nodeName));
}

/** The node each named connection is on, by the AMQP port it reached (`list_connections`). */
async function connectionNodes(from: number, prefix: string): Promise<Map<string, string>> {
  const out = await cluster.nodes[from]!.ctl([
    'list_connections',
    'client_properties',
    'port',
    '--formatter',
    'json',
  ]);
  const rows = JSON.parse(out) as { client_properties: unknown; port: number }[];
  const nodes = new Map<string, string>();
  for (const r of rows) {
    const node = cluster.nodes.find((n) => n.port === r.port)?.nodeName;
    // connection_name is one of the client properties, as [key, type, value] triples.
    const name = new RegExp(`"(${prefix}[^"]*)"`).exec(JSON.stringify(r.client_properties))?.[1];
    if (name !== undefined && node !== undefined) nodes.set(name, node);
  }
  return nodes;
}

/** A logger that calls `onLine` with each message (the broker's logs, for the moment it failed over). */
function watchingLogger(onLine: (line: string) => void): Logger {
  const log = (a: unknown, b?: unknown): void => onLine(typeof a === 'string' ? a : String(b));
  const logger: Logger = {
    trace: log,
    debug: log,
    info: log,
    warn: log,
    error: log,
    fatal: log,
    child: () => logger,
  };
  return logger;
}

/**
 * The scenario: a worker, a client and an rpc:// pair on quorum queues, the node list in `order`
 * (its first node is where they all connect); that node is stopped (or killed, `hard`) once a
 * quarter of `total` tasks ran. Every result must arrive, from the same worker.
 */
async function loseNodeMidRun(o: { order: number[]; hard: boolean; total: number }): Promise<void> {
  const [victim, witness] = o.order as [number, number];
  const a = cluster.nodes[victim]!.nodeName;
  const tag = `cluster-${randomBytes(3).toString('hex')}`;
  const queue = uniqueName('cluster');
  const brokerOptions = {
    queueType: 'quorum' as const,
    connectTimeoutMs: 60_000,
    reconnectMaxDelayMs: 500,
  };
  // What the worker had done, and the client published, when the worker lost node A.
  let atLoss: { processed: number; published: number } | undefined;
  let processed = (): number => 0;
  let published = 0;
  const workerLogger = watchingLogger((line) => {
    if (atLoss === undefined && /^lost the RabbitMQ connection .* consume/.test(line)) {
      atLoss = { processed: processed(), published };
    }
  });
  const app = (role: string, backend: string, defaultQueue = queue): Celeriac =>
    new Celeriac({
      broker: o.order.map((i) => cluster.urls[i]!).join(';'),
      backend,
      logger: silentLogger,
      defaultQueue,
      brokerOptions: {
        ...brokerOptions,
        connectionName: `${tag}-${role}`,
        logger: role === 'worker' ? workerLogger : silentLogger,
      },
    });
  const client = app('client', inject('redisUrl'));
  // Results over the broker itself, through a second worker on a queue of its own: the
  // client's reply queue lives on the node it first connected to.
  const rpcClient = app('rpc', 'rpc://', `${queue}-rpc`);
  const rpcWorkerApp = app('rpc-worker', 'rpc://', `${queue}-rpc`);
  const workerApp = app('worker', inject('redisUrl'));
  const define = (c: Celeriac) => c.task('cluster.double', (n: number) => n * 2);
  const work = define(client);
  const rpcWork = define(rpcClient);
  define(workerApp);
  define(rpcWorkerApp);
  const worker = new Worker(workerApp, { concurrency: 20, hostname: `${tag}@test` });
  const rpcWorker = new Worker(rpcWorkerApp, { concurrency: 2, hostname: `${tag}-rpc@test` });
  await Promise.all([worker.start(), rpcWorker.start()]);
  processed = () => worker.processed;
  try {
    // Before: everything on A, the rpc:// and remote control round trips work.
    expect(await rpcWork.delay(1).get({ timeout: 30 })).toBe(2);
    expect(Object.keys(await client.control.ping({ timeout: 2 }))).toContain(`${tag}@test`);
    const before = await connectionNodes(witness, tag);
    expect(before.get(`${tag}-worker consume`)).toBe(a);
    expect(before.get(`${tag}-client publish`)).toBe(a);

    const total = o.total;
    const results: ReturnType<typeof work.delay>[] = [];
    // In batches, each once the worker has nearly caught up, so the stop meets work in both
    // directions: messages unacked in the worker and publishes unconfirmed in the client.
    const publishing = (async () => {
      for (let i = 0; i < total; i += 100) {
        await expect
          .poll(() => worker.processed, { timeout: 60_000, interval: 10 })
          .toBeGreaterThanOrEqual(published - 300);
        const batch = Array.from({ length: Math.min(100, total - i) }, (_, k) => work.delay(i + k));
        results.push(...batch);
        await Promise.all(batch.map((r) => r.published));
        published += batch.length;
      }
    })();
    await expect
      .poll(() => worker.processed, { timeout: 60_000, interval: 10 })
      .toBeGreaterThan(total / 4);
    await cluster.stopNode(victim, { hard: o.hard });
    // The worker lost its node in the middle of the run, with tasks still to publish.
    expect(atLoss).toBeDefined();
    expect(atLoss!.processed).toBeLessThan(total);
    expect(atLoss!.published).toBeLessThan(total);

    await publishing;
    expect(results).toHaveLength(total);
    const values = await Promise.all(results.map((r) => r.get({ timeout: 120 })));
    expect(values).toEqual(Array.from({ length: total }, (_, i) => i * 2));

    // The same worker, never restarted, now consumes from another node; so do the clients.
    expect(worker.state).toBe('running');
    expect(rpcWorker.state).toBe('running');
    const after = await connectionNodes(witness, tag);
    const workerNode = after.get(`${tag}-worker consume`);
    expect(workerNode).toBeDefined();
    expect(workerNode).not.toBe(a);
    expect(after.get(`${tag}-client publish`)).not.toBe(a);
    // rpc:// declared its reply queue again on the new node; remote control listens again.
    expect(await rpcWork.delay(21).get({ timeout: 30 })).toBe(42);
    await expect
      .poll(async () => Object.keys(await client.control.ping({ timeout: 1 })), {
        timeout: 30_000,
        interval: 100,
      })
      .toContain(`${tag}@test`);
    console.log(
      `cluster failover test: ${total} tasks, ${atLoss!.processed} run and ${atLoss!.published} published when the worker lost its node (${o.hard ? 'killed' : 'stopped'}), ` +
        `${worker.processed - total} runs beyond one per task (at least once)`,
    );
  } finally {
    await Promise.allSettled([worker.shutdown({ timeout: 5 }), rpcWorker.shutdown({ timeout: 5 })]);
    await Promise.allSettled([workerApp, rpcWorkerApp, client, rpcClient].map((c) => c.close()));
  }
}

describe('a worker on a RabbitMQ cluster (quorum queues) when its node stops', () => {
  it('completes every one of 3,000 tasks when node A stops, the same worker and clients carrying on from another node', async () => {
    await loseNodeMidRun({ order: [0, 1, 2], hard: false, total: 3000 });
  }, 240_000);

  it('and when node B, listed first, is killed (SIGKILL) once A is back', async () => {
    await cluster.startNode(0);
    await loseNodeMidRun({ order: [1, 2, 0], hard: true, total: 2000 });
  }, 240_000);

  it('connects past a node that is down, in list order or shuffled, without waiting out a backoff round', async () => {
    // The node the cases above left down (B), or A when this case runs alone, first in the list.
    let down = (await downNodes())[0];
    if (down === undefined) {
      await cluster.stopNode(0);
      down = 0;
    }
    const up = [0, 1, 2].filter((i) => i !== down);
    const urls = [down, ...up].map((i) => cluster.urls[i]!);
    const lines: string[] = [];
    const logger = watchingLogger((l) => lines.push(l));
    const queue = uniqueName('past-a');
    for (const failoverStrategy of ['round-robin', 'shuffle'] as const) {
      const broker = new AmqpBroker({
        url: urls,
        queueType: 'quorum',
        failoverStrategy,
        // A pause after a failed round longer than the test: only skipping the node at once passes.
        reconnectInitialDelayMs: 600_000,
        logger,
      });
      try {
        await broker.publish(queue, {
          body: Buffer.from('[]'),
          contentType: 'application/json',
          contentEncoding: 'utf-8',
          headers: { id: failoverStrategy },
          properties: {},
        });
      } finally {
        await broker.close();
      }
    }
    const counter = new AmqpBroker({
      url: up.map((i) => cluster.urls[i]!),
      queueType: 'quorum',
    });
    try {
      expect(await counter.count(queue)).toBe(2);
    } finally {
      await counter.close();
    }
    // Round-robin tried A first, and said so.
    expect(
      lines.some(
        (l) =>
          l.startsWith(`cannot connect to RabbitMQ at`) &&
          l.includes(`:${cluster.nodes[down]!.port}/`),
      ),
    ).toBe(true);
  });

  it('refuses a queue of another type than declared with CELERIAC_ERR_QUEUE_MISMATCH, saying how to fix it', async () => {
    const queue = uniqueName('mismatch');
    const down = await downNodes();
    const [url, other] = [0, 1, 2].filter((i) => !down.includes(i)).map((i) => cluster.urls[i]!);
    const classic = new AmqpBroker({ url: url! });
    const quorum = new AmqpBroker({ url: [url!, other!], queueType: 'quorum' });
    try {
      await classic.declareQueue(queue);
      const err: unknown = await quorum
        .consume({ queues: [queue], prefetch: 1, onMessage: () => undefined })
        .catch((e: unknown) => e);
      expect(isCeleriacError(err, ErrorCodes.QUEUE_MISMATCH)).toBe(true);
      expect((err as Error).message).toMatch(
        new RegExp(
          `holds queue "${queue}" as a classic queue, but this side declares it as a quorum queue`,
        ),
      );
      expect((err as Error).message).toMatch(/queueType/);
      const publish: unknown = await quorum
        .publish(queue, {
          body: Buffer.from('[]'),
          contentType: 'application/json',
          contentEncoding: 'utf-8',
          headers: {},
          properties: {},
        })
        .catch((e: unknown) => e);
      expect(isCeleriacError(publish, ErrorCodes.QUEUE_MISMATCH)).toBe(true);
    } finally {
      await Promise.allSettled([classic.close(), quorum.close()]);
    }
  });
});
