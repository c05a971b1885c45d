// The systems `npm run bench:amqp` compares. Each one is a worker process and a publisher/client
// process (lib/child-process.js starts both, fd 3 carries the commands), so Celeriac and Python
// Celery are set up and measured the same way from outside.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../', import.meta.url));
export const PYTHON = process.env.CELERIAC_PYTHON ?? '/usr/bin/python3';

/** Celery's version at PYTHON, or throws a one-line install hint. */
export function celeryVersion() {
  const r = spawnSync(
    PYTHON,
    [
      '-c',
      'import celery, kombu, amqp; print(celery.__version__, kombu.__version__, amqp.__version__)',
    ],
    { encoding: 'utf8' },
  );
  if (r.error || r.status !== 0) {
    throw new Error(
      `Python Celery is not available at ${PYTHON}: apt-get install -y python3-celery python3-redis (or set CELERIAC_PYTHON)`,
    );
  }
  const [celery, kombu, amqp] = r.stdout.trim().split(/\s+/);
  return { celery, kombu, amqp };
}

/**
 * The environment of every child: Node children read BENCH_CONFIG, Python ones the BENCH_* vars.
 * @param {{ amqpUrl: string, backendUrl: string, queue: string, concurrency: number, tasks: number }} run
 */
export function childEnv(run) {
  return {
    ...process.env,
    BENCH_CONFIG: JSON.stringify(run),
    BENCH_BROKER_URL: run.amqpUrl,
    BENCH_BACKEND_URL: run.backendUrl,
    BENCH_QUEUE: run.queue,
    PYTHONPATH: DIR,
    // No __pycache__ in the work tree, and no buffering of what the children log.
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONUNBUFFERED: '1',
  };
}

/**
 * @typedef {object} System
 * @property {string} id
 * @property {string} label
 * @property {string} kind 'celeriac' | 'celery' | 'raw'
 * @property {(run: object, o: { hold: boolean, execArgv?: string[] }) => { command: string, args: string[], cwd?: string, env?: Record<string, string> }} worker
 *   hold: the worker connects but consumes only after the "start" command (W2)
 * @property {(run: object, o: { execArgv?: string[] }) => { command: string, args: string[], cwd?: string }} client
 * @property {{ msg?: object, signal?: NodeJS.Signals }} workerStop
 * @property {boolean} startsConsuming whether the worker consumes on its own once ready (unless held)
 * @property {string} [variant] passed to the children (raw amqplib)
 * @property {string[]} [workloads] the workloads it runs, when not all
 */

/** @returns {System} */
export function celeriacSystem() {
  return {
    id: 'celeriac',
    label: 'Celeriac',
    kind: 'celeriac',
    worker: (_run, o) => ({
      command: process.execPath,
      args: [...(o.execArgv ?? []), `${DIR}celeriac-worker.js`],
    }),
    client: (_run, o) => ({
      command: process.execPath,
      args: [...(o.execArgv ?? []), `${DIR}celeriac-client.js`],
    }),
    workerStop: { msg: { cmd: 'stop' } },
    startsConsuming: false,
  };
}

/**
 * Python Celery: `celery worker` with the given pool. `--without-heartbeat --without-gossip
 * --without-mingle`, loglevel WARNING; the worker consumes the run's queue from the start, or,
 * held (W2), an empty placeholder queue until the bench adds the real one (remote control).
 * @param {'prefork' | 'threads'} pool
 * @param {number} concurrency for the threads pool (prefork uses one child per CPU)
 * @param {number} preforkChildren
 * @returns {System}
 */
export function celerySystem(pool, concurrency, preforkChildren) {
  const c = pool === 'threads' ? concurrency : preforkChildren;
  return {
    id: `celery-${pool}`,
    label: `Celery (${pool} -c ${c})`,
    kind: 'celery',
    worker: (run, { hold }) => ({
      command: PYTHON,
      args: [
        '-m',
        'celery',
        '-A',
        'celery_app',
        'worker',
        '-Q',
        hold ? `${run.queue}.hold` : run.queue,
        '-n',
        `${run.queue}@localhost`,
        '-P',
        pool,
        '-c',
        String(c),
        '--without-heartbeat',
        '--without-gossip',
        '--without-mingle',
        '--loglevel',
        'WARNING',
      ],
      cwd: DIR,
      env: { BENCH_CONTROL_FD: '3' },
    }),
    client: () => ({ command: PYTHON, args: [`${DIR}celery_client.py`], cwd: DIR }),
    // Warm shutdown; after the run was verified, so a slow one (prefork takes ~1.6 s here, threads ~10 s)
    // is cut short: nothing of the run is left to finish.
    workerStop: { signal: 'SIGTERM', timeoutMs: 1_000 },
    startsConsuming: true,
  };
}

/**
 * Bare amqplib. `plain`: small messages, no reply (W4 replies). `reply`: Celeriac's message shape
 * (Celery's headers, reply_to) and a result-sized reply per task, read by the publisher: what
 * the rpc:// round trip costs RabbitMQ and amqplib with no task queue around it.
 * @param {'plain' | 'reply'} variant
 * @returns {System}
 */
export function rawSystem(variant = 'plain') {
  return {
    id: variant === 'plain' ? 'raw' : 'raw-reply',
    label: variant === 'plain' ? 'raw amqplib' : 'raw amqplib + reply',
    kind: 'raw',
    variant,
    worker: (_run, o) => ({
      command: process.execPath,
      args: [...(o.execArgv ?? []), `${DIR}raw-worker.js`],
    }),
    client: (_run, o) => ({
      command: process.execPath,
      args: [...(o.execArgv ?? []), `${DIR}raw-client.js`],
    }),
    workerStop: { msg: { cmd: 'stop' } },
    startsConsuming: false,
  };
}
