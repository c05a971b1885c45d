import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.js';
import { killOnExit } from './exit-hook.js';

export interface RabbitMqServerOptions {
  /** The AMQP port. @default a free port */
  port?: number;
  /** The Erlang distribution port (what `rabbitmqctl` talks to). @default a free port */
  distPort?: number;
  /** @default `celeriac-<random>@localhost` */
  nodeName?: string;
  /** How long to wait for the node to accept AMQP connections, in milliseconds. @default 60_000 */
  startTimeoutMs?: number;
  /**
   * The Erlang cookie, written to the node's own `HOME/.erlang.cookie` (where `rabbitmqctl`,
   * given the same HOME, reads it too). Nodes of one cluster must share it.
   * @default one Erlang makes up at first start
   */
  erlangCookie?: string;
}

/**
 * A throwaway RabbitMQ node with its own node name, ports, Erlang cookie, mnesia, log and
 * plugin files under one temporary directory, so the machine's own node (and its port 5672)
 * is never touched. `restart()` keeps the node name, ports and data, as a real restart does.
 */
export interface RabbitMqServerHandle {
  /** `amqp://guest:guest@127.0.0.1:<port>/` */
  readonly url: string;
  readonly port: number;
  readonly nodeName: string;
  readonly dataDir: string;
  /** Runs `rabbitmqctl <args>` against this node and resolves with its stdout. */
  ctl(args: readonly string[]): Promise<string>;
  /** Stops the node gracefully (as `rabbitmqctl stop` would). */
  shutdown(): Promise<void>;
  /** Kills the node hard (SIGKILL), as a crash or a power cut would. */
  kill(): Promise<void>;
  /** Starts the node again (after `shutdown()` or `kill()`). */
  start(): Promise<void>;
  /** Stops the node (hard when asked), optionally stays down `downMs`, then starts it again. */
  restart(options?: { hard?: boolean; downMs?: number }): Promise<void>;
  /** Stops the node and deletes its directory. Idempotent. */
  stop(): Promise<void>;
}

const SBIN_DIRS = [
  '/usr/lib/rabbitmq/bin',
  '/usr/lib/rabbitmq/sbin',
  '/usr/local/sbin',
  '/usr/sbin',
];

/**
 * The real scripts, not Debian's /usr/sbin wrapper: the wrapper switches to the `rabbitmq`
 * user and to /var/lib/rabbitmq, where the machine's own node lives.
 */
function findScript(name: string): string | undefined {
  const dirs = [
    ...(process.env['RABBITMQ_SBIN'] ? [process.env['RABBITMQ_SBIN']] : []),
    ...SBIN_DIRS,
    ...(process.env['PATH'] ?? '').split(delimiter),
  ];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

function requireScripts(): { server: string; ctl: string } {
  const server = findScript('rabbitmq-server');
  const ctl = findScript('rabbitmqctl');
  if (!server || !ctl) {
    throw new Error(
      'rabbitmq-server not found: install it with "apt-get install -y rabbitmq-server" (or set AMQP_URL)',
    );
  }
  return { server, ctl };
}

/** Resolves when the port answers the AMQP 0-9-1 protocol header with a method frame. */
function amqpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(2000, () => done(false));
    s.once('connect', () => s.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')));
    s.once('data', (d: Buffer) => done(d[0] === 1));
    s.once('error', () => done(false));
    s.once('close', () => done(false));
  });
}

export async function startRabbitMqServer(
  options: RabbitMqServerOptions = {},
): Promise<RabbitMqServerHandle> {
  const scripts = requireScripts();
  const port = options.port ?? (await freePort());
  let distPort = options.distPort ?? (await freePort());
  while (distPort === port) distPort = await freePort();
  const nodeName = options.nodeName ?? `celeriac-${randomBytes(4).toString('hex')}@localhost`;
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const dataDir = mkdtempSync(join(tmpdir(), 'celeriac-rabbitmq-'));
  const home = join(dataDir, 'home');
  mkdirSync(home);
  if (options.erlangCookie !== undefined) {
    // Erlang refuses a cookie file others can read.
    writeFileSync(join(home, '.erlang.cookie'), options.erlangCookie, { mode: 0o400 });
  }
  const files = {
    config: join(dataDir, 'rabbitmq.conf'),
    envConf: join(dataDir, 'rabbitmq-env.conf'),
    plugins: join(dataDir, 'enabled_plugins'),
    pid: join(dataDir, 'rabbitmq.pid'),
    log: join(dataDir, 'startup.log'),
  };
  writeFileSync(
    files.config,
    [
      `listeners.tcp.1 = 127.0.0.1:${port}`,
      'loopback_users = none',
      'log.console = false',
      'log.file.level = info',
      // A nearly full disk on a CI runner must not raise an alarm that blocks publishers.
      'disk_free_limit.absolute = 1MB',
      '',
    ].join('\n'),
  );
  // Our own (empty) env file, so /etc/rabbitmq/rabbitmq-env.conf's NODENAME does not apply.
  writeFileSync(files.envConf, '');
  writeFileSync(files.plugins, '[].\n');

  // HOME holds this node's own Erlang cookie; rabbitmqctl gets the same HOME to read it.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONF_ENV_FILE: files.envConf,
    RABBITMQ_CONFIG_FILE: files.config,
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dataDir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: files.plugins,
    RABBITMQ_MNESIA_BASE: join(dataDir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dataDir, 'log'),
    RABBITMQ_PID_FILE: files.pid,
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    ERL_EPMD_ADDRESS: '127.0.0.1',
    ERL_CRASH_DUMP: join(dataDir, 'erl_crash.dump'),
  };
  delete env['RABBITMQ_ALLOW_INPUT'];

  let child: ChildProcess | undefined;
  /** Stops the exit hook killing the node (set at each start). */
  let forget: () => void = () => undefined;
  let exited: Promise<void> = Promise.resolve();
  let stopped = false;

  const beamPid = (): number | undefined => {
    try {
      const pid = Number(readFileSync(files.pid, 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const killNow = (): void => {
    const pid = beamPid();
    for (const p of [pid, child?.pid]) {
      if (p === undefined) continue;
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };

  const start = async (): Promise<void> => {
    if (stopped) throw new Error(`RabbitMQ node ${nodeName} was stopped for good`);
    const c = spawn(scripts.server, [], { env, cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-8000);
    };
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    c.unref();
    forget = killOnExit(killNow);
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(`RabbitMQ node ${nodeName} exited during startup:\n${output}`);
      }
      if (await amqpAnswers(port)) return;
      if (Date.now() > deadline) {
        killNow();
        throw new Error(
          `RabbitMQ node ${nodeName} did not accept AMQP connections on port ${port} within ${startTimeoutMs} ms:\n${output}`,
        );
      }
      await sleep(100);
    }
  };

  const waitGone = async (pid: number | undefined): Promise<void> => {
    await exited;
    // The shell script waits for the VM, but after a SIGKILL of the VM only: make sure.
    while (pid !== undefined) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await sleep(20);
    }
  };

  const kill = async (): Promise<void> => {
    const pid = beamPid();
    killNow();
    await waitGone(pid);
    forget();
    child = undefined;
  };

  const shutdown = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const pid = beamPid();
    // SIGTERM to the start script runs its trap: a graceful `stop` of the VM.
    c.kill('SIGTERM');
    const timer = setTimeout(killNow, 30_000);
    await waitGone(pid);
    clearTimeout(timer);
    forget();
    child = undefined;
  };

  const ctl = (args: readonly string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(
        scripts.ctl,
        ['-n', nodeName, ...args],
        { env, cwd: dataDir, timeout: 60_000 },
        (err, stdout, stderr) => {
          if (err)
            reject(new Error(`rabbitmqctl ${args.join(' ')} failed: ${stderr || err.message}`));
          else resolve(stdout);
        },
      );
    });

  try {
    await start();
  } catch (err) {
    killNow();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }

  return {
    url: `amqp://guest:guest@127.0.0.1:${port}/`,
    port,
    nodeName,
    dataDir,
    ctl,
    shutdown,
    kill,
    start,
    async restart(o = {}) {
      if (o.hard) await kill();
      else await shutdown();
      if (o.downMs) await sleep(o.downMs);
      await start();
    },
    async stop() {
      if (stopped) return;
      await kill();
      stopped = true;
      if (existsSync(dataDir)) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A RabbitMQ for a test file: the one `AMQP_URL` names, or a throwaway node. */
export interface RabbitMqForTests {
  readonly url: string;
  /** The node this helper started, or undefined when `AMQP_URL` was used. */
  readonly server: RabbitMqServerHandle | undefined;
  /** Stops what this helper started. */
  release(): Promise<void>;
}

/**
 * `AMQP_URL` when it is set (a server the run may create queues on; tests keep to uniquely named
 * queues), else a throwaway node from `startRabbitMqServer()`. Tests that restart or alarm the
 * server must start their own node instead.
 */
export async function rabbitMqForTests(url = process.env['AMQP_URL']): Promise<RabbitMqForTests> {
  if (url) return { url, server: undefined, release: () => Promise.resolve() };
  const server = await startRabbitMqServer();
  return { url: server.url, server, release: () => server.stop() };
}
