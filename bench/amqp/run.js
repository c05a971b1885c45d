// `npm run bench:amqp`: Celeriac on RabbitMQ beside Python Celery on RabbitMQ, on the same
// throwaway RabbitMQ node, in one run; a bare-amqplib row as the ceiling. See bench/amqp/README.md.
//
//   node bench/amqp/run.js [--quick] [--only celeriac,celery,raw] [--workloads W1,W4] [--reps 3]
//                          [--backend rpc|redis|both] [--celery-pool auto|prefork|threads|both]
//                          [--amqp-url amqp://...] [--redis-url redis://...] [--profile]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { median, percentile } from '../lib/stats.js';
import { perfAvailable, perfCommand, summarizePerf } from './lib/perf.js';
import { summarizeWindow } from './lib/profile-window.js';
import { BenchChild } from './lib/child-process.js';
import { cpuOf, TreeSampler } from './lib/proc-stats.js';
import { renderReport } from './lib/report.js';
import { celeriacSystem, celerySystem, celeryVersion, childEnv, rawSystem } from './lib/systems.js';

const HELP = `Usage: node bench/amqp/run.js [options]   (npm run bench:amqp -- [options])

  --quick                 small counts, 1 repetition (a smoke run, well under a minute)
  --only <list>           comma-separated subset of celeriac,celery,raw (default: all)
  --workloads <list>      comma-separated subset of W1,W2,W3,W4 (default: all)
  --reps <n>              repetitions of each workload per system (default 3, --quick 1)
  --tasks <n>             tasks for W1, W2 and W3b (default 20000, --quick 2000)
  --backend <b>           result backend of both sides: rpc (default), redis, or both
                          (redis: a throwaway redis-server unless --redis-url / REDIS_URL)
  --celery-pool <p>       Celery's pool: auto (default: prefork -c <CPUs> for every workload,
                          and threads -c 50 too for W1 and W4, the two bars), prefork, threads,
                          or both (both pools for every workload)
  --amqp-url <url>        use this RabbitMQ instead of a throwaway node (also AMQP_URL); the
                          bench creates uniquely named queues and deletes only those
  --redis-url <url>       use this Redis for --backend redis (also REDIS_URL); only the
                          bench's own result keys are deleted
  --timeout <s>           give up on one workload run after this many seconds (default 180)
  --profile               run Celeriac's (and raw amqplib's) W1 worker and publisher under
                          --cpu-prof; the report says where their main threads' time went, over
                          the timed window (files in bench/results/amqp-profiles-<time>/)
  --perf                  the same processes under Linux \`perf record\` (on-CPU samples of every
                          thread, over the timed window): what a task costs in CPU, by kind
  -h, --help`;

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    workloads: { type: 'string' },
    reps: { type: 'string' },
    tasks: { type: 'string' },
    backend: { type: 'string', default: 'rpc' },
    'celery-pool': { type: 'string', default: 'auto' },
    'amqp-url': { type: 'string' },
    'redis-url': { type: 'string' },
    timeout: { type: 'string' },
    profile: { type: 'boolean', default: false },
    perf: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}

function fail(message) {
  console.error(`bench:amqp: ${message}`);
  process.exit(2);
}

const ALL_WORKLOADS = ['W1', 'W2', 'W3', 'W4'];
const quick = opts.quick;
const cpus = os.cpus().length;
const config = {
  tasks: Number(opts.tasks ?? (quick ? 2_000 : 20_000)),
  sequential: quick ? 200 : 2_000,
  roundTrips: quick ? 100 : 1_000,
  roundTripWarmup: quick ? 10 : 50,
  warmupTasks: quick ? 200 : 1_000,
  reps: Number(opts.reps ?? (quick ? 1 : 3)),
  batch: 1_000,
  concurrency: 50,
  preforkChildren: cpus,
  timeoutMs: Number(opts.timeout ?? 180) * 1000,
  workloads: (opts.workloads ?? ALL_WORKLOADS.join(','))
    .split(',')
    .map((w) => w.trim().toUpperCase())
    .filter(Boolean),
  backends: opts.backend === 'both' ? ['rpc', 'redis'] : [opts.backend],
  celeryPools: ['both', 'auto'].includes(opts['celery-pool'])
    ? ['prefork', 'threads']
    : [opts['celery-pool']],
  profile: opts.profile,
  perf: opts.perf,
};
for (const w of config.workloads) {
  if (!ALL_WORKLOADS.includes(w)) fail(`unknown workload "${w}": pick from ${ALL_WORKLOADS}`);
}
for (const b of config.backends) {
  if (b !== 'rpc' && b !== 'redis') fail(`--backend must be rpc, redis or both, got "${b}"`);
}
for (const p of config.celeryPools) {
  if (p !== 'prefork' && p !== 'threads')
    fail(`--celery-pool must be auto, prefork, threads or both, got "${p}"`);
}
for (const k of ['tasks', 'reps', 'timeoutMs']) {
  if (!(Number.isInteger(config[k]) && config[k] > 0)) fail(`--${k} must be a positive integer`);
}
const only = (opts.only ?? 'celeriac,celery,raw').split(',').map((s) => s.trim().toLowerCase());
for (const s of only) {
  if (!['celeriac', 'celery', 'raw'].includes(s))
    fail(`--only takes celeriac, celery and raw, got "${s}"`);
}

/** @type {import('./lib/systems.js').System[]} */
const systems = [];
if (only.includes('celeriac')) systems.push(celeriacSystem());
let versions = {};
if (only.includes('celery')) {
  try {
    versions = celeryVersion();
  } catch (err) {
    fail(err.message);
  }
  for (const pool of config.celeryPools) {
    const system = celerySystem(pool, config.concurrency, config.preforkChildren);
    // auto: the second pool only where the bars are, to keep a default run short.
    if (opts['celery-pool'] === 'auto' && pool === 'threads') system.workloads = ['W1', 'W4'];
    systems.push(system);
  }
}
if (only.includes('raw')) {
  systems.push(rawSystem('plain'));
  const reply = rawSystem('reply');
  reply.workloads = ['W1', 'W2'];
  systems.push(reply);
}

// ---------------------------------------------------------------------------------------------
// Servers: a throwaway RabbitMQ node (and redis-server for --backend redis) unless given.

const givenAmqp = opts['amqp-url'] ?? process.env.AMQP_URL;
const givenRedis = opts['redis-url'] ?? process.env.REDIS_URL;
let testing;
async function loadTesting() {
  testing ??= await import('@celeriac/testing').catch((err) =>
    fail(`cannot load @celeriac/testing (run "npx turbo run build" first?): ${err.message}`),
  );
  return testing;
}
/** @type {import('@celeriac/testing').RabbitMqServerHandle | undefined} */
let rabbit;
/** @type {import('@celeriac/testing').RedisServerHandle | undefined} */
let redisServer;
/** @type {BenchChild[]} live children, killed if the bench dies */
const live = new Set();

let stopping = false;
async function teardown() {
  for (const c of live) await c.kill().catch(() => undefined);
  await admin?.close().catch(() => undefined);
  await redisAdmin?.quit().catch(() => undefined);
  await rabbit?.stop().catch(() => undefined);
  await redisServer?.stop().catch(() => undefined);
}
const crash = (err) => {
  console.error('bench:amqp: failed:', err);
  stopping = true;
  void teardown().finally(() => process.exit(1));
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);
process.once('SIGINT', () => {
  if (stopping) process.exit(130);
  stopping = true;
  console.error('\nbench:amqp: interrupted, stopping what it started');
  void teardown().finally(() => process.exit(130));
});

let amqpUrl;
if (givenAmqp) {
  amqpUrl = givenAmqp;
} else {
  const t = performance.now();
  rabbit = await (await loadTesting()).startRabbitMqServer();
  amqpUrl = rabbit.url;
  console.log(`throwaway RabbitMQ node up in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
let redisUrl;
/** @type {import('ioredis').Redis | undefined} */
let redisAdmin;
if (config.backends.includes('redis')) {
  if (givenRedis) redisUrl = givenRedis;
  else {
    redisServer = await (await loadTesting()).startRedisServer();
    redisUrl = redisServer.url;
  }
  const { Redis } = await import('ioredis');
  redisAdmin = new Redis(redisUrl, { lazyConnect: true });
  await redisAdmin.connect();
}

/** The broker node's Erlang VM, for its CPU time (throwaway node only). */
function rabbitPid() {
  if (!rabbit) return undefined;
  try {
    return Number(readFileSync(join(rabbit.dataDir, 'rabbitmq.pid'), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

/** @type {import('amqplib').ChannelModel | undefined} */
let admin;
admin = await amqp.connect(amqpUrl);
admin.on('error', () => undefined);
/** The admin channel, reopened after a failed delete closes it. */
let adminChannel;
async function adminRun(fn) {
  if (!adminChannel) {
    adminChannel = await admin.createChannel();
    adminChannel.on('error', () => undefined);
  }
  try {
    return await fn(adminChannel);
  } catch {
    adminChannel = undefined;
    return undefined;
  }
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));
if (config.perf && !perfAvailable())
  fail('--perf needs a working `perf record` (apt-get install linux-perf; perf_event_paranoid)');
const profileDir =
  config.profile || config.perf ? join(resultsDir, `amqp-profiles-${stamp}`) : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });
const runId = randomBytes(3).toString('hex');
let runSeq = 0;

// ---------------------------------------------------------------------------------------------
// One workload run: a fresh queue, a fresh worker process (if the workload needs one) and a fresh
// publisher/client process; afterwards both are stopped and the run's queues deleted.

/**
 * @param {import('./lib/systems.js').System} system
 * @param {'rpc' | 'redis'} backend
 * @param {{ worker?: boolean, hold?: boolean, profileAs?: string }} need
 * @param {(p: { worker?: BenchChild, client: BenchChild, run: object }) => Promise<object>} fn
 */
async function withRun(system, backend, need, fn) {
  const queue = `bench-amqp-${runId}-${++runSeq}`;
  const run = {
    amqpUrl,
    backendUrl: backend === 'rpc' ? 'rpc://' : redisUrl,
    queue,
    concurrency: config.concurrency,
    tasks: config.tasks,
    variant: system.variant,
  };
  const env = childEnv(run);
  const profiling = config.profile && need.profileAs && system.kind !== 'celery';
  const perfing = config.perf && need.profileAs && system.kind !== 'celery';
  const perfFile = (role) =>
    join(profileDir, `${system.id}-${backend}-${need.profileAs}-${role}-${queue}.perf.data`);
  /** Under `perf record` with --perf. */
  // (cwd: --perf-basic-prof also writes V8's isolate-*.log files into the working directory.)
  const wrap = (role, spec) =>
    perfing ? { ...spec, ...perfCommand(perfFile(role), spec.args), cwd: profileDir } : spec;
  const prof = (role) =>
    profiling
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${profileDir}`,
          `--cpu-prof-name=${system.id}-${backend}-${need.profileAs}-${role}-${queue}.cpuprofile`,
        ]
      : [];
  /** @type {BenchChild | undefined} */
  let worker;
  /** @type {BenchChild | undefined} */
  let client;
  let replyTo;
  try {
    if (need.worker) {
      const w = wrap(
        'worker',
        system.worker(run, { hold: Boolean(need.hold), execArgv: prof('worker') }),
      );
      worker = await BenchChild.start(`${system.label} worker`, w.command, w.args, {
        env: { ...env, ...w.env },
        cwd: w.cwd,
      });
      live.add(worker);
    }
    const c = wrap('client', system.client(run, { execArgv: prof('client') }));
    client = await BenchChild.start(`${system.label} client`, c.command, c.args, {
      env,
      cwd: c.cwd,
    });
    live.add(client);
    replyTo = client.readyMessage?.replyTo;
    debug(`${system.label}: processes up`);
    const result = await fn({ worker, client, run });
    debug(`${system.label}: workload done`);
    if (backend === 'redis' && redisAdmin) {
      const { ids } = await client.request({ cmd: 'resultIds' }, 'resultIds', 30_000);
      for (let i = 0; i < ids.length; i += 1000)
        await redisAdmin.del(...ids.slice(i, i + 1000).map((id) => `celery-task-meta-${id}`));
    }
    return result;
  } finally {
    if (client) {
      await client.stop({ msg: { cmd: 'close' } }).catch(() => client.kill());
      live.delete(client);
      debug(`${system.label}: client stopped`);
    }
    if (worker) {
      await worker.stop(system.workerStop).catch(() => worker.kill());
      live.delete(worker);
    }
    debug(`${system.label}: processes stopped`);
    await adminRun(async (ch) => {
      const queues = [
        queue,
        `${queue}.hold`,
        `celeriac.dead.${queue}`,
        `${queue}@localhost.celery.pidbox`,
        replyTo,
      ];
      for (const q of queues.filter(Boolean)) await ch.deleteQueue(q).catch(() => undefined);
    });
    for (const x of [queue, `${queue}.hold`])
      await adminRun((ch) => ch.deleteExchange(x)).catch(() => undefined);
  }
}

const debugT0 = performance.now();
function debug(what) {
  if (process.env.BENCH_DEBUG)
    console.error(`  [${((performance.now() - debugT0) / 1000).toFixed(2)}s] ${what}`);
}

/** Starts the worker consuming (Celery's consumes once ready, unless held). */
async function startConsuming(system, worker, run, held) {
  if (system.startsConsuming && !held) return;
  await worker.request({ cmd: 'start', queue: run.queue }, 'started', 30_000);
}

/** W1: N tasks published while one worker runs them; until every result is stored and acked. */
async function runW1(system, backend, n = config.tasks, profileAs = undefined) {
  return withRun(system, backend, { worker: true, profileAs }, async ({ worker, client, run }) => {
    await startConsuming(system, worker, run, false);
    await worker.request({ cmd: 'watch', target: n }, 'watching', 10_000);
    // The pids the processes report (under --perf, the spawned process is perf itself).
    const workerPid = worker.readyMessage?.pid ?? worker.pid;
    const clientPid = client.readyMessage?.pid ?? client.pid;
    const sampler = new TreeSampler(workerPid);
    const clientCpu0 = cpuOf(clientPid);
    const rpid = rabbitPid();
    const rabbitCpu0 = cpuOf(rpid);
    const reached = worker.next('reached', config.timeoutMs);
    reached.catch(() => undefined);
    const hr0 = Number(process.hrtime.bigint() / 1000n);
    const t0 = performance.now();
    const pub = await client.request(
      { cmd: 'publish', n, batch: config.batch },
      'published',
      config.timeoutMs,
    );
    await reached;
    const t1 = performance.now();
    const hr1 = Number(process.hrtime.bigint() / 1000n);
    const w = sampler.stop();
    const clientCpu = cpuOf(clientPid) - clientCpu0;
    const rabbitCpu = rpid ? cpuOf(rpid) - rabbitCpu0 : undefined;
    debug('W1 window over');
    const check = await client.request({ cmd: 'verify', n }, 'verified', 120_000);
    debug('W1 verified');
    if (!check.ok) throw new Error(`W1 verification failed: ${check.detail}`);
    const seconds = (t1 - t0) / 1000;
    return {
      seconds,
      throughput: n / seconds,
      publishSeconds: pub.seconds,
      publishRate: n / pub.seconds,
      workerRssPeakMB: w.rssPeak / 2 ** 20,
      workerRssStartMB: w.rssStart / 2 ** 20,
      workerCpuUsPerTask: w.cpuUs / n,
      publisherCpuUsPerTask: clientCpu / n,
      rabbitCpuUsPerTask: rabbitCpu === undefined ? undefined : rabbitCpu / n,
      totalCpuUsPerTask:
        rabbitCpu === undefined ? undefined : (w.cpuUs + clientCpu + rabbitCpu) / n,
      tasks: n,
      verified: check.detail,
      // The window on CLOCK_MONOTONIC (µs), to slice --cpu-prof and perf profiles with.
      windowUs: [hr0, hr1],
      pids: { worker: workerPid, client: clientPid },
    };
  });
}

/** W2: N tasks pre-filled while the worker is connected but not consuming; time the drain. */
async function runW2(system, backend) {
  const n = config.tasks;
  return withRun(system, backend, { worker: true, hold: true }, async ({ worker, client, run }) => {
    const pub = await client.request(
      { cmd: 'publish', n, batch: config.batch },
      'published',
      config.timeoutMs,
    );
    await worker.request({ cmd: 'watch', target: n }, 'watching', 10_000);
    const sampler = new TreeSampler(worker.pid);
    const reached = worker.next('reached', config.timeoutMs);
    reached.catch(() => undefined);
    const t0 = performance.now();
    await startConsuming(system, worker, run, true);
    await reached;
    const seconds = (performance.now() - t0) / 1000;
    const w = sampler.stop();
    const check = await client.request({ cmd: 'verify', n }, 'verified', 120_000);
    if (!check.ok) throw new Error(`W2 verification failed: ${check.detail}`);
    return {
      seconds,
      throughput: n / seconds,
      prefillSeconds: pub.seconds,
      workerRssPeakMB: w.rssPeak / 2 ** 20,
      workerCpuUsPerTask: w.cpuUs / n,
      tasks: n,
      verified: check.detail,
    };
  });
}

/** W3: publish rate with no worker: one by one, concurrently, and (Celery) one by one confirmed. */
async function runW3(system, backend) {
  return withRun(system, backend, {}, async ({ client }) => {
    const seq = await client.request(
      { cmd: 'publishSequential', n: config.sequential },
      'published',
      config.timeoutMs,
    );
    const conc = await client.request(
      { cmd: 'publish', n: config.tasks, batch: config.batch },
      'published',
      config.timeoutMs,
    );
    await client.request({ cmd: 'discard' }, 'discarded', 10_000);
    let confirmedRate;
    if (system.kind === 'celery') {
      const c = await client.request(
        { cmd: 'publishConfirmed', n: config.sequential },
        'published',
        config.timeoutMs,
      );
      confirmedRate = config.sequential / c.seconds;
    }
    const sequentialRate = config.sequential / seq.seconds;
    return {
      sequentialRate,
      sequentialUs: (seq.seconds * 1e6) / config.sequential,
      // Celeriac and raw amqplib always wait for RabbitMQ's confirm one by one.
      confirmedRate: confirmedRate ?? sequentialRate,
      concurrentRate: config.tasks / conc.seconds,
    };
  });
}

/** W4: sequential round trips with an idle worker: publish, then AsyncResult.get(). */
async function runW4(system, backend) {
  return withRun(system, backend, { worker: true }, async ({ worker, client, run }) => {
    await startConsuming(system, worker, run, false);
    const { latenciesMs } = await client.request(
      {
        cmd: 'roundTrips',
        n: config.roundTrips,
        warmup: config.roundTripWarmup,
        timeoutMs: 30_000,
      },
      'roundTrips',
      config.timeoutMs,
    );
    const sorted = [...latenciesMs].sort((a, b) => a - b);
    return {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      mean: sorted.reduce((s, x) => s + x, 0) / sorted.length,
      max: sorted[sorted.length - 1],
      calls: sorted.length,
    };
  });
}

const RUNNERS = {
  W1: (s, b) => runW1(s, b, config.tasks, 'W1'),
  W2: runW2,
  W3: runW3,
  W4: runW4,
};

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000}s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
const outerTimeoutMs = config.timeoutMs * 2 + 60_000;

function summarize(w, r) {
  switch (w) {
    case 'W1':
      return `${r.throughput.toFixed(0)} tasks/s (publish ${r.publishRate.toFixed(0)} msg/s), worker RSS peak ${r.workerRssPeakMB.toFixed(0)} MB, worker CPU ${r.workerCpuUsPerTask.toFixed(0)} µs/task`;
    case 'W2':
      return `${r.throughput.toFixed(0)} tasks/s`;
    case 'W3':
      return `${r.sequentialRate.toFixed(0)} msg/s one by one, ${r.confirmedRate.toFixed(0)} confirmed, ${r.concurrentRate.toFixed(0)} concurrent`;
    case 'W4':
      return `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`;
    default:
      return '';
  }
}

// ---------------------------------------------------------------------------------------------

function gitDescribe() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'packages'], {
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head} + uncommitted changes in packages/` : head;
  } catch {
    return 'unknown';
  }
}

const serverProps = admin.connection.serverProperties ?? {};
const loadBefore = os.loadavg();
const machine = {
  node: process.version,
  cpus,
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  totalMemGB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
  platform: `${os.platform()} ${os.release()}`,
  rabbitmq: String(serverProps.version ?? 'unknown'),
  erlang: String(serverProps.platform ?? ''),
  rabbitmqServer: rabbit ? 'throwaway node started by the bench' : 'given (--amqp-url / AMQP_URL)',
  redis: config.backends.includes('redis')
    ? redisServer
      ? 'throwaway redis-server started by the bench'
      : 'given (--redis-url / REDIS_URL)'
    : undefined,
  celery: versions.celery,
  kombu: versions.kombu,
  pyamqp: versions.amqp,
  amqplib: JSON.parse(
    readFileSync(
      fileURLToPath(new URL('../../node_modules/amqplib/package.json', import.meta.url)),
      'utf8',
    ),
  ).version,
  celeriac: gitDescribe(),
  loadAverageAtStart: loadBefore.map((x) => Number(x.toFixed(2))),
};
if (loadBefore[0] > 0.5) {
  console.warn(
    `note: load average is ${loadBefore[0].toFixed(2)} before the bench starts: other processes compete for the ${cpus} CPUs, expect noisy figures`,
  );
}
console.log(
  `Celeriac vs Celery on RabbitMQ ${machine.rabbitmq} — node ${machine.node}, Celery ${versions.celery ?? '-'} (kombu ${versions.kombu ?? '-'}, py-amqp ${versions.amqp ?? '-'}), ${cpus} CPUs`,
);
console.log(
  `workloads ${config.workloads.join(',')} × ${systems.map((s) => s.label).join(', ')}; backend ${config.backends.join(' and ')}; ${config.reps} rep(s) interleaved; ${config.tasks} tasks (W1/W2/W3b), ${config.sequential} one by one (W3a), ${config.roundTrips} round trips (W4)`,
);

const started = performance.now();
/** @type {Record<string, Record<string, Record<string, any[]>>>} backend → system → workload → runs */
const runs = {};
/** @type {{ backend: string, system: string, workload: string, rep: number, error: string }[]} */
const errors = [];

for (const backend of config.backends) {
  runs[backend] = Object.fromEntries(
    systems.map((s) => [s.id, Object.fromEntries(config.workloads.map((w) => [w, []]))]),
  );
  console.log(
    `\nresult backend: ${backend === 'rpc' ? 'rpc:// (both sides)' : 'Redis (both sides)'}`,
  );
  // Untimed warm-up: the broker's queue processes, the OS's caches, Python's .pyc-less imports.
  for (const system of systems) {
    try {
      await withTimeout(runW1(system, backend, config.warmupTasks), outerTimeoutMs, 'warm-up');
      console.log(`  warm-up ${system.label}: ok`);
    } catch (err) {
      console.error(`  warm-up ${system.label}: FAILED: ${err.message}`);
      errors.push({
        backend,
        system: system.id,
        workload: 'warm-up',
        rep: 0,
        error: String(err.stack ?? err),
      });
    }
  }
  for (let rep = 1; rep <= config.reps; rep++) {
    for (const w of config.workloads) {
      // Alternate who goes first, so a drift in the machine's load does not favour one side.
      const order = rep % 2 === 1 ? systems : [...systems].reverse();
      for (const system of order) {
        if (system.workloads && !system.workloads.includes(w)) continue;
        const t = performance.now();
        try {
          const result = await withTimeout(
            RUNNERS[w](system, backend),
            outerTimeoutMs,
            `${system.label} ${w}`,
          );
          if (config.profile && w === 'W1' && system.kind !== 'celery')
            result.profiles = collectProfiles(system, backend, result.windowUs);
          if (config.perf && w === 'W1' && system.kind !== 'celery')
            result.perf = collectPerf(system, backend, result.windowUs, result.pids);
          runs[backend][system.id][w].push({ rep, ...result });
          console.log(
            `  rep ${rep} ${w} ${system.label.padEnd(24)} ${summarize(w, result)}  (${((performance.now() - t) / 1000).toFixed(1)}s)`,
          );
        } catch (err) {
          errors.push({
            backend,
            system: system.id,
            workload: w,
            rep,
            error: String(err.stack ?? err),
          });
          console.error(`  rep ${rep} ${w} ${system.label.padEnd(24)} FAILED: ${err.message}`);
        }
      }
    }
  }
}

/** The profiles of the last W1 run of `system` (worker and client), over the timed window. */
function collectProfiles(system, backend, [fromUs, toUs]) {
  const out = {};
  const queue = `bench-amqp-${runId}-${runSeq}`;
  for (const role of ['worker', 'client']) {
    const file = join(profileDir, `${system.id}-${backend}-W1-${role}-${queue}.cpuprofile`);
    if (existsSync(file)) out[role] = { file, ...summarizeWindow(file, fromUs, toUs, 25) };
  }
  return out;
}

/** The perf records of the last W1 run of `system`, over the timed window. */
function collectPerf(system, backend, [fromUs, toUs], pids) {
  const out = {};
  const queue = `bench-amqp-${runId}-${runSeq}`;
  for (const role of ['worker', 'client']) {
    const file = join(profileDir, `${system.id}-${backend}-W1-${role}-${queue}.perf.data`);
    if (existsSync(file)) out[role] = { file, ...summarizePerf(file, fromUs, toUs) };
    // --perf-basic-prof's symbol map, read by `perf script` above.
    rmSync(`/tmp/perf-${pids[role]}.map`, { force: true });
  }
  return out;
}

const elapsedSeconds = (performance.now() - started) / 1000;
machine.loadAverageAtEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
const report = renderReport({ systems, runs, config, machine, errors, elapsedSeconds });
console.log(`\n${report}`);

mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `amqp-${stamp}.json`);
writeFileSync(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), argv: process.argv.slice(2), machine, config, systems: systems.map((s) => ({ id: s.id, label: s.label })), runs, medians: medians(), errors, elapsedSeconds }, null, 2)}\n`,
);
console.log(`\nraw results: ${file}`);

function medians() {
  const out = {};
  for (const [backend, bySystem] of Object.entries(runs)) {
    out[backend] = {};
    for (const [sys, byW] of Object.entries(bySystem)) {
      out[backend][sys] = {};
      for (const [w, list] of Object.entries(byW)) {
        if (list.length === 0) continue;
        out[backend][sys][w] = {};
        for (const key of Object.keys(list[0])) {
          if (typeof list[0][key] === 'number' && key !== 'rep')
            out[backend][sys][w][key] = median(list.map((r) => r[key]));
        }
      }
    }
  }
  return out;
}

stopping = true;
await teardown();
process.exit(errors.length > 0 ? 1 : 0);
