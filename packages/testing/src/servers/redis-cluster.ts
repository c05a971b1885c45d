import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killOnExit } from './exit-hook.js';
import { freePort } from './free-port.js';
import { RedisProcess } from './redis-process.js';
import { waitFor } from './wait-for.js';
import { respCommand, respInfo } from './resp.js';

const SERVERS = 'Redis Cluster test servers';

export interface RedisClusterOptions {
  /**
   * Masters; the 16384 slots are split evenly between them. From 3 on the cluster is made by
   * `redis-cli --cluster create`, which takes no fewer; 1 or 2 (for benchmarks) are joined by
   * hand (`CLUSTER MEET`, `CLUSTER ADDSLOTSRANGE`, `CLUSTER REPLICATE`). @default 3
   */
  masters?: number;
  /** Replicas of each master. @default 1 */
  replicasPerMaster?: number;
  /** `cluster-node-timeout`: how long a master may not answer before its replica takes over. @default 1000 */
  nodeTimeoutMs?: number;
  /** How long `startRedisCluster` and the failover helpers wait at most, in ms. @default 30000 */
  timeoutMs?: number;
}

/** One redis-server of the cluster. */
export interface RedisClusterNode {
  readonly port: number;
  /** True while its process runs. */
  readonly running: boolean;
}

/**
 * A Redis Cluster on free loopback ports (`cluster-enabled yes`, created with
 * `redis-cli --cluster create`), every node in a temporary directory: what a
 * `redis+cluster://` URL needs, for the cluster layout's tests.
 */
export interface RedisClusterHandle {
  /** `redis+cluster://127.0.0.1:<p1>,…,127.0.0.1:<pn>` (every node, masters first). */
  readonly url: string;
  readonly nodes: readonly RedisClusterNode[];
  /** The temporary directory holding every node's data, config and log. */
  readonly dir: string;
  /**
   * The port of the master now serving the slots that master `index` (0-based, in creation
   * order) was given: after a failover, its former replica's.
   */
  masterPort(index: number): Promise<number>;
  /**
   * A manual failover (`CLUSTER FAILOVER` on a replica) of the master serving range `index`:
   * no write is lost. Waits until the replica is master and every running node agrees and says
   * `cluster_state:ok`; returns the new master's port.
   */
  failover(index: number): Promise<number>;
  /**
   * SIGKILLs the master serving range `index` and waits until its replica took over (after
   * `nodeTimeoutMs`) and the cluster is ok again; returns the new master's port.
   */
  killMaster(index: number): Promise<number>;
  /** Waits until every running node says `cluster_state:ok` with all slots served. */
  waitForOk(): Promise<void>;
  /** Kills every node and removes the directories. Idempotent. */
  stop(): Promise<void>;
}

/** One line of `CLUSTER NODES`. */
interface NodeLine {
  id: string;
  port: number;
  master: boolean;
  failed: boolean;
  masterId: string;
  slots: string[];
}

async function clusterNodes(port: number): Promise<NodeLine[]> {
  const text = String(await respCommand(port, ['CLUSTER', 'NODES']));
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const [id, addr, flags, masterId, , , , , ...slots] = line.split(' ');
      const fl = flags!.split(',');
      return {
        id: id!,
        port: Number(/:(\d+)@/.exec(addr!)?.[1]),
        master: fl.includes('master'),
        failed: fl.includes('fail') || fl.includes('fail?'),
        masterId: masterId!,
        slots,
      };
    });
}

/**
 * Starts `masters × (1 + replicasPerMaster)` nodes, joins them with `redis-cli --cluster
 * create … --cluster-yes`, and waits until every node says `cluster_state:ok` with all 16384
 * slots assigned and every replica is in sync with its master.
 */
export async function startRedisCluster(
  options: RedisClusterOptions = {},
): Promise<RedisClusterHandle> {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error) {
    throw new Error('redis-server not found: install it with "apt-get install -y redis-server"');
  }
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 1;
  if (!Number.isInteger(masters) || masters < 1) {
    throw new Error(`startRedisCluster: masters must be an integer >= 1, got ${masters}`);
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  const root = mkdtempSync(join(tmpdir(), 'celeriac-cluster-'));
  const nodes: RedisProcess[] = [];
  let stopped = false;
  // Each node kills itself on exit (RedisProcess); this removes their directories.
  const unhook = killOnExit(() => rmSync(root, { recursive: true, force: true }));
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    unhook();
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(root, { recursive: true, force: true });
  };
  const within = (): number => Date.now() + timeoutMs;

  const waitForOk = async (): Promise<void> => {
    const deadline = within();
    for (const n of nodes.filter((x) => x.running)) {
      await waitFor(SERVERS, `cluster_state:ok on port ${n.port}`, deadline, async () => {
        const info = String(await respCommand(n.port, ['CLUSTER', 'INFO']));
        const ok =
          info.includes('cluster_state:ok') &&
          info.includes('cluster_slots_assigned:16384') &&
          info.includes('cluster_slots_ok:16384');
        return ok ? true : undefined;
      });
    }
  };

  const waitForSync = async (): Promise<void> => {
    const deadline = within();
    for (const n of nodes.filter((x) => x.running)) {
      await waitFor(SERVERS, `the replicas of port ${n.port} to be in sync`, deadline, async () => {
        const info = await respInfo(n.port, 'replication');
        if (info.get('role') !== 'master') return true;
        let online = 0;
        for (const [k, v] of info) if (/^slave\d+$/.test(k) && v.includes('state=online')) online++;
        return online >= replicas ? true : undefined;
      });
    }
  };

  /** A slot of each range, as creation assigned them: range i starts at slot ⌈16384·i/masters⌉. */
  const firstSlot = (index: number): number => Math.ceil((16384 * index) / masters);
  const anyRunning = (): RedisProcess => {
    const n = nodes.find((x) => x.running);
    if (!n) throw new Error('no node of the cluster is running');
    return n;
  };
  const owner = async (index: number): Promise<NodeLine> => {
    if (!Number.isInteger(index) || index < 0 || index >= masters) {
      throw new Error(`master index ${index} is out of range 0..${masters - 1}`);
    }
    const slot = firstSlot(index);
    const lines = await clusterNodes(anyRunning().port);
    const found = lines.find(
      (l) =>
        l.master &&
        !l.failed &&
        l.slots.some((s) => {
          const [a, b] = s.split('-').map(Number);
          return slot >= a! && slot <= (b ?? a!);
        }),
    );
    if (!found) throw new Error(`no live master serves slot ${slot}`);
    return found;
  };
  /** Waits until a live master other than `oldPort` serves range `index` on every running node. */
  const waitForNewMaster = async (index: number, oldPort: number): Promise<number> => {
    const port = await waitFor(SERVERS, `a new master for range ${index}`, within(), async () => {
      const seen = new Set<number>();
      for (const n of nodes.filter((x) => x.running)) {
        const lines = await clusterNodes(n.port);
        const slot = firstSlot(index);
        const m = lines.find(
          (l) =>
            l.master &&
            !l.failed &&
            l.slots.some((s) => {
              const [a, b] = s.split('-').map(Number);
              return slot >= a! && slot <= (b ?? a!);
            }),
        );
        if (!m) return undefined;
        seen.add(m.port);
      }
      const [p] = [...seen];
      if (seen.size !== 1 || p === undefined || p === oldPort) return undefined;
      const role = (await respInfo(p, 'replication')).get('role');
      return role === 'master' ? p : undefined;
    });
    await waitForOk();
    return port;
  };

  try {
    const ports: number[] = [];
    while (ports.length < masters * (1 + replicas)) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    for (const port of ports) {
      const dir = join(root, `redis-${port}`);
      mkdirSync(dir);
      const args = [
        '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
        '--appendonly', 'no', '--daemonize', 'no', '--logfile', join(dir, 'redis.log'),
        '--protected-mode', 'no', '--cluster-enabled', 'yes', '--cluster-announce-ip', '127.0.0.1',
        '--cluster-config-file', join(dir, 'nodes.conf'),
        '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 1000),
        '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0',
      ]; // prettier-ignore
      const node = new RedisProcess(port, args);
      nodes.push(node);
      node.start();
    }
    const deadline = within();
    for (const n of nodes) {
      await waitFor(SERVERS, `redis-server on port ${n.port}`, deadline, async () =>
        (await respCommand(n.port, ['PING'])) === 'PONG' ? true : undefined,
      );
    }
    if (masters < 3) await joinByHand(nodes, masters, replicas, within());
    // redis-cli makes the first `masters` nodes masters and assigns the rest as replicas.
    const create =
      masters < 3
        ? undefined
        : spawnSync(
            'redis-cli',
            [
        '--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas', String(replicas), '--cluster-yes',
      ], // prettier-ignore
            { encoding: 'utf8', timeout: timeoutMs },
          );
    if (create && create.status !== 0) {
      throw new Error(
        `redis-cli --cluster create failed (${create.status}): ${create.stderr || create.stdout}`,
      );
    }
    await waitForOk();
    await waitFor(SERVERS, 'every node to know every other', within(), async () => {
      for (const n of nodes) {
        if ((await clusterNodes(n.port)).length !== nodes.length) return undefined;
      }
      return true;
    });
    await waitForSync();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    nodes,
    dir: root,
    masterPort: async (index) => (await owner(index)).port,
    async failover(index) {
      const m = await owner(index);
      const lines = await clusterNodes(m.port);
      const replica = lines.find(
        (l) => !l.master && l.masterId === m.id && nodes.find((n) => n.port === l.port)?.running,
      );
      if (!replica) throw new Error(`the master at port ${m.port} has no replica to fail over to`);
      await respCommand(replica.port, ['CLUSTER', 'FAILOVER']);
      return waitForNewMaster(index, m.port);
    },
    async killMaster(index) {
      const m = await owner(index);
      const node = nodes.find((n) => n.port === m.port);
      if (!node) throw new Error(`port ${m.port} is not a node of this cluster`);
      await node.kill();
      return waitForNewMaster(index, m.port);
    },
    waitForOk,
    stop,
  };
}

/**
 * What `redis-cli --cluster create` does, for fewer than the 3 masters it insists on: the
 * first `masters` nodes take the slots in even ranges, the others replicate them in turn.
 */
async function joinByHand(
  nodes: readonly RedisProcess[],
  masters: number,
  replicas: number,
  deadline: number,
): Promise<void> {
  const [first, ...rest] = nodes;
  for (const n of rest)
    await respCommand(first!.port, ['CLUSTER', 'MEET', '127.0.0.1', String(n.port)]);
  for (let i = 0; i < masters; i++) {
    const from = Math.ceil((16384 * i) / masters);
    const to = Math.ceil((16384 * (i + 1)) / masters) - 1;
    await respCommand(nodes[i]!.port, ['CLUSTER', 'ADDSLOTSRANGE', String(from), String(to)]);
  }
  await waitFor(SERVERS, 'every node to meet every other', deadline, async () => {
    for (const n of nodes) {
      if ((await clusterNodes(n.port)).length !== nodes.length) return undefined;
    }
    return true;
  });
  for (let r = 0; r < masters * replicas; r++) {
    const master = nodes[r % masters]!;
    const replica = nodes[masters + r]!;
    const id = String(await respCommand(master.port, ['CLUSTER', 'MYID']));
    await waitFor(
      SERVERS,
      `port ${replica.port} to replicate port ${master.port}`,
      deadline,
      async () =>
        (await respCommand(replica.port, ['CLUSTER', 'REPLICATE', id])) === 'OK' ? true : undefined,
    );
  }
}
