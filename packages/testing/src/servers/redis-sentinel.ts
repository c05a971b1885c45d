import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { RedisProcess } from './redis-process.js';
import { waitFor } from './wait-for.js';
import { respCommand, respInfo, type RespValue } from './resp.js';

const SERVERS = 'Redis Sentinel test servers';

export interface RedisSentinelOptions {
  /** The master group's name, `sentinel monitor <name> …`. @default 'mymaster' */
  masterName?: string;
  /** Replicas of the master. @default 1 */
  replicas?: number;
  /** Sentinel processes. @default 3 */
  sentinels?: number;
  /** Sentinels that must agree the master is down. @default 2 */
  quorum?: number;
  /** `sentinel down-after-milliseconds`: how long the master may not answer before it is down. @default 1000 */
  downAfterMs?: number;
  /** `sentinel failover-timeout`. @default 5000 */
  failoverTimeoutMs?: number;
  /** How long `startRedisSentinel` and the `waitFor…` helpers wait at most, in ms. @default 20000 */
  timeoutMs?: number;
}

/** One redis-server of the group, master or replica. */
export interface RedisNodeHandle {
  readonly port: number;
  /** True while its process runs. */
  readonly running: boolean;
}

/**
 * A Redis master with replicas and a quorum of sentinels on free loopback ports, each in a
 * temporary directory: what a `sentinel://` URL needs, for failover tests. `url` lists every
 * sentinel with `?master_name=`, as Celery's `sentinel://h:26379;sentinel://h2:26379/0` does
 * (Celery takes the name from a transport option).
 */
export interface RedisSentinelHandle {
  readonly masterName: string;
  /** `sentinel://127.0.0.1:<p1>;…;sentinel://127.0.0.1:<pn>/0?master_name=<name>` */
  readonly url: string;
  readonly sentinelPorts: readonly number[];
  readonly nodes: readonly RedisNodeHandle[];
  /** The temporary directory holding every server's data, config and log. */
  readonly dir: string;
  /** The master's port, as the first sentinel that answers reports it. */
  masterPort(): Promise<number>;
  /** SIGKILLs the current master (no shutdown, no last write to the replicas); returns its port. */
  killMaster(): Promise<number>;
  /**
   * Waits until every sentinel names a master other than `oldPort` and that server says
   * `role:master`; returns its port.
   */
  waitForFailover(oldPort: number): Promise<number>;
  /** Waits until the current master has `count` replicas online (`INFO replication`). */
  waitForReplicas(count: number): Promise<void>;
  /**
   * Waits until every online replica has the master's replication offset: everything written
   * so far is on them, so a failover now keeps it.
   */
  waitForReplication(): Promise<void>;
  /** Kills every process and removes the directories. Idempotent. */
  stop(): Promise<void>;
}

function requireRedisServer(): void {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error) {
    throw new Error('redis-server not found: install it with "apt-get install -y redis-server"');
  }
}

const isPong = async (port: number): Promise<true | undefined> =>
  (await respCommand(port, ['PING'])) === 'PONG' ? true : undefined;

/** Starts the group and waits until the sentinels can fail it over (`SENTINEL CKQUORUM`). */
export async function startRedisSentinel(
  options: RedisSentinelOptions = {},
): Promise<RedisSentinelHandle> {
  requireRedisServer();
  const name = options.masterName ?? 'mymaster';
  const replicaCount = options.replicas ?? 1;
  const sentinelCount = options.sentinels ?? 3;
  const quorum = options.quorum ?? 2;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const root = mkdtempSync(join(tmpdir(), 'celeriac-sentinel-'));
  const procs: RedisProcess[] = [];
  const nodes: RedisProcess[] = [];
  const sentinels: RedisProcess[] = [];
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(procs.map((p) => p.kill()));
    rmSync(root, { recursive: true, force: true });
  };

  try {
    const ports: number[] = [];
    while (ports.length < 1 + replicaCount + sentinelCount) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const masterPort = ports[0]!;
    for (let i = 0; i <= replicaCount; i++) {
      const port = ports[i]!;
      const dir = join(root, `redis-${port}`);
      mkdirSync(dir);
      // No delay before a full sync (Redis waits 5 s by default for more replicas to join it).
      const args = [
        '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
        '--appendonly', 'no', '--daemonize', 'no', '--logfile', join(dir, 'redis.log'),
        '--repl-diskless-sync-delay', '0', '--protected-mode', 'no',
        ...(i === 0 ? [] : ['--replicaof', '127.0.0.1', String(masterPort)]),
      ]; // prettier-ignore
      const proc = new RedisProcess(port, args);
      procs.push(proc);
      nodes.push(proc);
      proc.start();
    }
    const deadline = Date.now() + timeoutMs;
    for (const n of nodes)
      await waitFor(SERVERS, `redis-server on port ${n.port}`, deadline, () => isPong(n.port));
    await waitForOnlineReplicas(masterPort, replicaCount, deadline);

    for (let i = 0; i < sentinelCount; i++) {
      const port = ports[1 + replicaCount + i]!;
      const dir = join(root, `sentinel-${port}`);
      mkdirSync(dir);
      const conf = join(dir, 'sentinel.conf');
      // Sentinel rewrites its config file as it learns the group, so each has its own.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode no',
          `dir ${dir}`,
          `logfile ${join(dir, 'sentinel.log')}`,
          `sentinel monitor ${name} 127.0.0.1 ${masterPort} ${quorum}`,
          `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 5000}`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const proc = new RedisProcess(port, [conf, '--sentinel']);
      procs.push(proc);
      sentinels.push(proc);
      proc.start();
    }
    for (const s of sentinels) {
      await waitFor(
        SERVERS,
        `sentinel on port ${s.port} to be ready for failover`,
        deadline,
        async () => {
          const addr = await respCommand(s.port, ['SENTINEL', 'get-master-addr-by-name', name]);
          if (!Array.isArray(addr) || Number(addr[1]) !== masterPort) return undefined;
          const replicas = await respCommand(s.port, ['SENTINEL', 'replicas', name]);
          if (!Array.isArray(replicas) || replicas.length < replicaCount) return undefined;
          // OK once this sentinel sees enough others to reach the quorum and elect a leader.
          const ok = await respCommand(s.port, ['SENTINEL', 'ckquorum', name]);
          return String(ok).startsWith('OK') ? true : undefined;
        },
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const sentinelPorts = sentinels.map((s) => s.port);
  const masterPort = async (): Promise<number> => {
    let last: unknown;
    for (const port of sentinelPorts) {
      try {
        const addr: RespValue = await respCommand(port, [
          'SENTINEL',
          'get-master-addr-by-name',
          name,
        ]);
        if (Array.isArray(addr)) return Number(addr[1]);
      } catch (err) {
        last = err;
      }
    }
    throw new Error(`no sentinel names a master for ${name}`, { cause: last });
  };
  const within = (): number => Date.now() + timeoutMs;

  return {
    masterName: name,
    url: `${sentinelPorts.map((p) => `sentinel://127.0.0.1:${p}`).join(';')}/0?master_name=${name}`,
    sentinelPorts,
    nodes,
    dir: root,
    masterPort,
    async killMaster() {
      const port = await masterPort();
      const node = nodes.find((n) => n.port === port);
      if (!node)
        throw new Error(`the sentinels name port ${port}, which is not a node of this group`);
      await node.kill();
      return port;
    },
    async waitForFailover(oldPort) {
      return waitFor(SERVERS, `a failover away from port ${oldPort}`, within(), async () => {
        const named = new Set<number>();
        for (const port of sentinelPorts) {
          const addr = await respCommand(port, ['SENTINEL', 'get-master-addr-by-name', name]);
          if (Array.isArray(addr)) named.add(Number(addr[1]));
        }
        const [port] = [...named];
        if (named.size !== 1 || port === undefined || port === oldPort) return undefined;
        const info = await respInfo(port, 'replication');
        return info.get('role') === 'master' ? port : undefined;
      });
    },
    async waitForReplicas(count) {
      await waitForOnlineReplicas(await masterPort(), count, within());
    },
    async waitForReplication() {
      const port = await masterPort();
      await waitFor(SERVERS, `the replicas to catch up with port ${port}`, within(), async () => {
        const info = await respInfo(port, 'replication');
        const offset = info.get('master_repl_offset');
        const replicas = [...info].filter(
          ([k, v]) => /^slave\d+$/.test(k) && v.includes('state=online'),
        );
        if (replicas.length === 0)
          throw new Error(`the master at port ${port} has no replica online`);
        return replicas.every(([, v]) => v.includes(`offset=${offset},`)) ? true : undefined;
      });
    },
    stop,
  };
}

async function waitForOnlineReplicas(
  masterPort: number,
  count: number,
  deadline: number,
): Promise<void> {
  await waitFor(SERVERS, `${count} replica(s) online at port ${masterPort}`, deadline, async () => {
    const info = await respInfo(masterPort, 'replication');
    let online = 0;
    for (const [key, value] of info) {
      if (/^slave\d+$/.test(key) && value.includes('state=online')) online += 1;
    }
    return info.get('role') === 'master' && online >= count ? true : undefined;
  });
}
