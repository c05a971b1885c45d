import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  chownSync,
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.js';
import { killOnExit } from './exit-hook.js';

export interface PostgresServerOptions {
  /** @default a free port */
  port?: number;
  /** How long to wait for the server to accept connections, in milliseconds. @default 30_000 */
  startTimeoutMs?: number;
}

/**
 * A throwaway PostgreSQL cluster: `initdb` into a temporary directory, then `postgres` on its
 * own port (127.0.0.1 only) with its socket in that directory, so the machine's own cluster
 * (and port 5432) is never touched. With `POSTGRES_URL` set, that server is used instead and
 * `stop()`, `kill()` and `start()` do nothing.
 */
export interface PostgresServerHandle {
  /** `postgresql://postgres@127.0.0.1:<port>/postgres` (trust authentication), or `POSTGRES_URL`. */
  readonly url: string;
  readonly port: number;
  /** The cluster's directory; `''` for `POSTGRES_URL`. */
  readonly dataDir: string;
  /** Stops the server at once (immediate shutdown, as a crash); `start()` brings it back on the same port and data. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** The directory of `initdb` and `postgres`: `PG_BIN`, Debian's newest `/usr/lib/postgresql/<ver>/bin`, or `PATH`. */
export function findPostgresBin(): string | undefined {
  const dirs: string[] = [];
  if (process.env['PG_BIN']) dirs.push(process.env['PG_BIN']);
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) dirs.push(join('/usr/lib/postgresql', v, 'bin'));
  } catch {
    // not Debian's layout
  }
  dirs.push(...(process.env['PATH'] ?? '').split(delimiter));
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      accessSync(join(dir, 'initdb'), constants.X_OK);
      accessSync(join(dir, 'postgres'), constants.X_OK);
      return dir;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The uid and gid of the `postgres` user, from /etc/passwd. */
function postgresUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error(
      'running as root, and there is no "postgres" user to run initdb and postgres as: install the postgresql package (apt-get install -y postgresql) or set POSTGRES_URL',
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

export async function startPostgresServer(
  options: PostgresServerOptions = {},
): Promise<PostgresServerHandle> {
  const fromEnv = process.env['POSTGRES_URL'];
  if (fromEnv) {
    const port = Number(new URL(fromEnv).port || 5432);
    const none = (): Promise<void> => Promise.resolve();
    return { url: fromEnv, port, dataDir: '', kill: none, start: none, stop: none };
  }
  const bin = findPostgresBin();
  if (!bin) {
    throw new Error(
      'initdb and postgres not found (looked in $PG_BIN, /usr/lib/postgresql/*/bin and PATH): install them with "apt-get install -y postgresql" or set POSTGRES_URL',
    );
  }
  const port = options.port ?? (await freePort());
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-pg-'));
  const dataDir = join(dir, 'data');
  // initdb refuses to run as root, and postgres refuses to run as root: run both as the
  // postgres user (spawn's uid/gid, so the child is postgres itself and a signal reaches it).
  const as = process.getuid?.() === 0 ? postgresUser() : undefined;
  if (as) chownSync(dir, as.uid, as.gid);
  const spawnAs = as ? { uid: as.uid, gid: as.gid } : {};
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };

  const init = spawnSync(
    join(bin, 'initdb'),
    [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--no-sync',
      '--no-instructions',
    ],
    { ...spawnAs, env, cwd: dir, encoding: 'utf8' },
  );
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `initdb failed (${init.error?.message ?? `exit ${init.status}`}): ${init.stderr || init.stdout}`,
    );
  }

  let child: ChildProcess | undefined;
  let output = '';
  const killNow = (): void => {
    try {
      child?.kill('SIGQUIT');
    } catch {
      // already gone
    }
  };
  const forget = killOnExit(killNow);

  const ready = (): Promise<boolean> =>
    new Promise((resolve) => {
      execFile(
        join(bin, 'pg_isready'),
        ['-q', '-h', '127.0.0.1', '-p', String(port), '-t', '1'],
        { env },
        (err) => resolve(err === null),
      );
    });

  const start = async (): Promise<void> => {
    output = '';
    const c = spawn(
      join(bin, 'postgres'),
      // -F: no fsync (a throwaway cluster); the socket goes in our directory, not /var/run.
      ['-D', dataDir, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-F'],
      { ...spawnAs, env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = c;
    c.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    c.unref();
    (c.stdout as { unref?: () => void } | null)?.unref?.();
    (c.stderr as { unref?: () => void } | null)?.unref?.();
    const deadline = Date.now() + startTimeoutMs;
    while (!(await ready())) {
      if (c.exitCode !== null || c.signalCode !== null)
        throw new Error(`postgres exited (${c.exitCode ?? c.signalCode}) on start: ${output}`);
      if (Date.now() > deadline)
        throw new Error(`postgres on port ${port} did not accept connections in time: ${output}`);
      await sleep(50);
    }
  };

  /** SIGQUIT (immediate shutdown, as a crash: no checkpoint, recovery at the next start), SIGKILL after 5 s. */
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const hard = setTimeout(() => c.kill('SIGKILL'), 5000);
      c.once('exit', () => {
        clearTimeout(hard);
        resolve();
      });
      // Keep the loop alive until the exit is seen (the child is unref'd).
      c.ref();
      c.kill('SIGQUIT');
    });
  };

  try {
    await start();
  } catch (err) {
    await kill();
    forget();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    kill,
    start,
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      forget();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
