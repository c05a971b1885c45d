import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.js';

export interface RedisServerOptions {
  /** @default a free port */
  port?: number;
  /** Keep an append-only file with fsync on every write, so a restart loses nothing acknowledged. @default false */
  appendOnly?: boolean;
}

/**
 * A throwaway `redis-server` on its own port and data directory, started the way nats.js's
 * tests start nats-server. `restart()` kills it (SIGKILL) and starts it again on the same port
 * and data directory.
 */
export interface RedisServerHandle {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  stop(): Promise<void>;
  /** Kills the server hard, optionally waits, then starts it again on the same port. */
  restart(options?: { downMs?: number }): Promise<void>;
  kill(): Promise<void>;
  start(): Promise<void>;
}

function requireBinary(bin: string, pkg: string): void {
  const r = spawnSync(bin, ['--version'], { stdio: 'ignore' });
  if (r.error) {
    throw new Error(
      `${bin} not found: install it with "apt-get install -y ${pkg}" or set REDIS_URL`,
    );
  }
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.write('PING\r\n');
      });
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
    await sleep(25);
  }
}

export async function startRedisServer(
  options: RedisServerOptions = {},
): Promise<RedisServerHandle> {
  requireBinary('redis-server', 'redis-server');
  const port = options.port ?? (await freePort());
  const dataDir = mkdtempSync(join(tmpdir(), 'celeriac-redis-'));
  let child: ChildProcess | undefined;

  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dataDir,
    '--save',
    '',
    '--daemonize',
    'no',
    '--logfile',
    join(dataDir, 'redis.log'),
    ...(options.appendOnly
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no']),
  ];

  const start = async (): Promise<void> => {
    child = spawn('redis-server', args, { stdio: 'ignore' });
    child.unref();
    await waitForPort(port, 10_000);
  };
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      // Keep the loop alive until the exit is seen: the child was unref'd so it never holds a
      // process open, but a caller awaiting stop() (a script's last await) must not be cut off.
      c.ref();
      c.kill('SIGKILL');
    });
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dataDir,
    start,
    kill,
    async restart(o = {}) {
      await kill();
      if (o.downMs) await sleep(o.downMs);
      await start();
    },
    async stop() {
      await kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
