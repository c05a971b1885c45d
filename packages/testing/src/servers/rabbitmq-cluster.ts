import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.js';
import { startRabbitMqServer, type RabbitMqServerHandle } from './rabbitmq-server.js';

export interface RabbitMqClusterOptions {
  /** How many nodes. @default 3 */
  nodes?: number;
  /** How long to wait for each step (a node to start, the cluster to form), in milliseconds. @default 120_000 */
  startTimeoutMs?: number;
}

/**
 * A throwaway RabbitMQ cluster: nodes `rabbit-<token>-<n>@localhost` (n from 1), each with its own
 * ports and data directory (see `startRabbitMqServer`), sharing one Erlang cookie, joined to node
 * 1 with `rabbitmqctl join_cluster`. Nodes stopped with `stopNode` keep their data and rejoin
 * the cluster when started again.
 */
export interface RabbitMqClusterHandle {
  readonly nodes: readonly RabbitMqServerHandle[];
  /** Each node's `amqp://guest:guest@127.0.0.1:<port>/`, node 1 first. */
  readonly urls: readonly string[];
  /** The URLs joined by `;`, as a broker URL list takes them (node 1 first). */
  readonly url: string;
  /** Stops node `index` (0-based) gracefully, or kills it (`hard`), and waits until the others see it gone. */
  stopNode(index: number, options?: { hard?: boolean }): Promise<void>;
  /** Starts node `index` again and waits until the cluster lists it running. */
  startNode(index: number): Promise<void>;
  /** The running nodes, as a running node's `rabbitmqctl cluster_status` lists them. */
  runningNodes(): Promise<string[]>;
  /** Stops every node and deletes their directories. Idempotent. */
  stop(): Promise<void>;
}

export async function startRabbitMqCluster(
  options: RabbitMqClusterOptions = {},
): Promise<RabbitMqClusterHandle> {
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`startRabbitMqCluster: nodes must be an integer >= 1, got ${String(count)}`);
  }
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  const token = randomBytes(4).toString('hex');
  const erlangCookie = randomBytes(16).toString('hex').toUpperCase();
  const running = new Set<number>();

  // Distinct ports for every node, chosen before any starts: ports picked side by side
  // can coincide.
  const taken = new Set<number>();
  const port = async (): Promise<number> => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
  const ports: { port: number; distPort: number }[] = [];
  for (let i = 0; i < count; i++) ports.push({ port: await port(), distPort: await port() });
  const startOne = async (i: number): Promise<RabbitMqServerHandle> => {
    const o = {
      nodeName: `rabbit-${token}-${i + 1}@localhost`,
      erlangCookie,
      startTimeoutMs: timeoutMs,
    };
    try {
      return await startRabbitMqServer({ ...o, ...ports[i] });
    } catch (err) {
      // Another process may have taken a port meanwhile: once more, on fresh ones.
      if (!String(err).includes('eaddrinuse')) throw err;
      return startRabbitMqServer({ ...o, port: await port(), distPort: await port() });
    }
  };
  // Started side by side: booting a node is most of the cost.
  const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => startOne(i)));
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    throw failed.reason;
  }
  nodes.forEach((_, i) => running.add(i));

  const node = (index: number): RabbitMqServerHandle => {
    const n = nodes[index];
    if (n === undefined) throw new Error(`startRabbitMqCluster: no node ${index}`);
    return n;
  };

  const runningNodes = async (): Promise<string[]> => {
    let lastError: unknown;
    for (const i of running) {
      try {
        const out = await node(i).ctl(['cluster_status', '--formatter', 'json']);
        const status = JSON.parse(out) as { running_nodes?: string[] };
        return [...(status.running_nodes ?? [])].sort();
      } catch (err) {
        lastError = err; // that node is on its way down: ask another
      }
    }
    throw lastError instanceof Error ? lastError : new Error('no running node to ask');
  };

  const waitRunning = async (what: string): Promise<void> => {
    const want = [...running].map((i) => node(i).nodeName).sort();
    const deadline = Date.now() + timeoutMs;
    let seen: string[] = [];
    for (;;) {
      try {
        seen = await runningNodes();
        if (seen.join() === want.join()) return;
      } catch {
        // a node is still starting or stopping
      }
      if (Date.now() > deadline) {
        throw new Error(
          `RabbitMQ cluster: ${what}: wanted ${want.join(', ')} running, saw ${seen.join(', ') || 'none'}`,
        );
      }
      await sleep(200);
    }
  };

  const stop = async (): Promise<void> => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    running.clear();
  };

  try {
    // One at a time: mnesia joins are not meant to race.
    const first = node(0).nodeName;
    for (let i = 1; i < count; i++) {
      const n = node(i);
      await n.ctl(['stop_app']);
      await n.ctl(['join_cluster', first]);
      await n.ctl(['start_app']);
      await n.ctl(['await_startup', '--timeout', String(Math.ceil(timeoutMs / 1000))]);
    }
    await waitRunning('forming');
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    nodes,
    urls: nodes.map((n) => n.url),
    url: nodes.map((n) => n.url).join(';'),
    async stopNode(index, o = {}) {
      const n = node(index);
      if (o.hard) await n.kill();
      else await n.shutdown();
      running.delete(index);
      if (running.size > 0) await waitRunning(`stopping ${n.nodeName}`);
    },
    async startNode(index) {
      const n = node(index);
      await n.start();
      running.add(index);
      await waitRunning(`starting ${n.nodeName}`);
    },
    runningNodes,
    stop,
  };
}
