// `npm run bench`: Celeriac beside BullMQ on the same Redis, and Celeriac on one SQLite file,
// in one run. See bench/README.md.
//
//   node bench/run.js [--quick] [--only celeriac,bullmq,celeriac-sqlite] [--workloads W1,W4] [--reps 3]
//                     [--redis-url redis://host:port/db] [--monitor | --no-monitor]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { snapshot, diff } from './lib/redis-stats.js';
import { redactUrl } from './lib/redis-url.js';
import { median, percentile } from './lib/stats.js';
import { monitorCommands } from './lib/monitor.js';
import { summarizeProfile } from './lib/profile.js';
import { renderReport } from './lib/report.js';
import { WorkerProcess } from './lib/worker-process.js';

const HELP = `Usage: node bench/run.js [options]   (npm run bench -- [options])

  --quick               small counts, 1 repetition (a smoke run)
  --only <systems>      comma-separated subset of celeriac, bullmq, celeriac-sqlite
                        (Celeriac on a sqlite:// file, results in the same file)
  --workloads <list>    comma-separated subset of W1,W2,W3,W4,W5 (default: all)
  --reps <n>            repetitions of each workload per system (default 3, --quick 1)
  --tasks <n>           tasks for W1, W2, W3b and W5 (default 20000, --quick 2000)
  --redis-url <url>     use this Redis instead of starting a throwaway redis-server
                        (also REDIS_URL); nothing is flushed, only the bench's own keys deleted
  --monitor             count client vs Lua commands with MONITOR in an extra short W1 pass
                        (default on with the throwaway server, off with --redis-url)
  --no-monitor          skip that pass
  --timeout <s>         give up on one workload run after this many seconds (default 120)
  --profile             run the W1 worker processes under --cpu-prof; the .cpuprofile files go
                        to bench/results/profiles-<time>/ and the report says where the CPU went
  -h, --help`;

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    workloads: { type: 'string' },
    reps: { type: 'string' },
    tasks: { type: 'string' },
    'redis-url': { type: 'string' },
    monitor: { type: 'boolean' },
    'no-monitor': { type: 'boolean' },
    timeout: { type: 'string' },
    profile: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}

const ALL_WORKLOADS = ['W1', 'W2', 'W3', 'W4', 'W5'];
const quick = opts.quick;
const config = {
  tasks: Number(opts.tasks ?? (quick ? 2_000 : 20_000)),
  sequential: quick ? 200 : 2_000,
  roundTrips: quick ? 100 : 1_000,
  roundTripWarmup: quick ? 10 : 50,
  warmupTasks: quick ? 200 : 2_000,
  monitorTasks: quick ? 500 : 2_000,
  reps: Number(opts.reps ?? (quick ? 1 : 3)),
  batch: 1_000,
  concurrency: 50,
  /** W5: producer and worker processes. */
  producers: 4,
  fanInWorkers: 2,
  timeoutMs: Number(opts.timeout ?? 120) * 1000,
  workloads: (opts.workloads ?? ALL_WORKLOADS.join(','))
    .split(',')
    .map((w) => w.trim().toUpperCase())
    .filter(Boolean),
};
for (const w of config.workloads) {
  if (!ALL_WORKLOADS.includes(w))
    fail(`unknown workload "${w}": pick from ${ALL_WORKLOADS.join(',')}`);
}
for (const k of ['tasks', 'reps', 'timeoutMs']) {
  if (!(Number.isInteger(config[k]) && config[k] > 0)) fail(`--${k} must be a positive integer`);
}

const { celeriac } = await import('./systems/celeriac.js').catch((err) => {
  fail(`cannot load Celeriac (run "npx turbo run build" first?): ${err.message}`);
});
const { bullmq } = await import('./systems/bullmq.js');
const { celeriacSqlite } = await import('./systems/celeriac-sqlite.js');
const { celeriacEvents, celeriacEventsListened } = await import('./systems/celeriac-events.js');
const SYSTEMS = [celeriac, bullmq, celeriacSqlite, celeriacEvents, celeriacEventsListened];
const only = opts.only
  ?.toLowerCase()
  .split(',')
  .map((x) => x.trim());
const systems = only ? SYSTEMS.filter((s) => only.includes(s.id)) : SYSTEMS;
if (systems.length === 0 || (only && systems.length !== only.length))
  fail(`--only takes ${SYSTEMS.map((s) => s.id).join(', ')}; got "${opts.only}"`);
/** Whether `system` runs workload `w`. */
const supports = (system, w) => !system.workloads || system.workloads.includes(w);

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// Redis: our own throwaway server unless one is named.

const givenUrl = opts['redis-url'] ?? process.env.REDIS_URL;
const shared = Boolean(givenUrl);
/** @type {import('@celeriac/testing').RedisServerHandle | undefined} */
let server;
let url;
if (givenUrl) {
  url = givenUrl;
} else {
  const { startRedisServer } = await import('@celeriac/testing');
  server = await startRedisServer();
  url = server.url;
}
const useMonitor = opts['no-monitor'] ? false : (opts.monitor ?? !shared);
const admin = new Redis(url, { connectionName: 'bench-admin', lazyConnect: true });
await admin.connect();

let stopping = false;
async function teardown() {
  admin.disconnect();
  await server?.stop();
}
// The throwaway redis-server is a detached process: whatever ends the bench must stop it.
const crash = (err) => {
  console.error('bench: failed:', err);
  stopping = true;
  void teardown().finally(() => process.exit(1));
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);
process.once('SIGINT', () => {
  if (stopping) process.exit(130);
  stopping = true;
  console.error('\nbench: interrupted, stopping the redis-server it started');
  void teardown().finally(() => process.exit(130));
});

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
const profileDir = opts.profile ? join(resultsDir, `profiles-${stamp}`) : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });

const runId = randomBytes(3).toString('hex');
let runSeq = 0;
/** A token unique to one workload run: its queue name, and on a shared Redis its key prefix. */
const nextToken = () => `${runId}-${++runSeq}`;

// ---------------------------------------------------------------------------------------
// Workloads. Each opens its own publisher and (if it needs one) forks its own worker process,
// and always closes, stops and cleans up what it opened.

/**
 * A last resort above the workloads' own timeouts (waiting for the worker, each round trip),
 * which fire first and let the run stop its worker and clean up.
 */
const outerTimeoutMs = config.timeoutMs * 2 + 30_000;
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000}s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Runs `fn` with a fresh publisher (and queue) and a way to fork worker processes; always stops
 * the workers, closes the publisher and deletes the run's keys. With `--profile` and a
 * `profileAs` name, the worker runs under --cpu-prof and the result gets its profile summary.
 */
async function withRun(system, fn, { profileAs } = {}) {
  const ctx = { url, token: nextToken(), shared, concurrency: config.concurrency };
  const handle = await system.open(ctx);
  /** @type {WorkerProcess[]} */
  const workers = [];
  const profileFile =
    profileDir && profileAs
      ? join(profileDir, `${system.id}-${profileAs}-${ctx.token}.cpuprofile`)
      : undefined;
  /** A worker process; or, given a script and its config, another child (W5's producers). */
  const spawnWorker = async (script = system.workerScript, childConfig = handle.workerConfig) => {
    const execArgv =
      profileFile && script === system.workerScript
        ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${basename(profileFile)}`]
        : [];
    const wp = await WorkerProcess.spawn(script, childConfig, 30_000, execArgv);
    workers.push(wp);
    return wp;
  };
  let result;
  try {
    result = await fn(handle, spawnWorker, ctx);
  } finally {
    for (const wp of workers) await wp.stop().catch(() => wp.kill());
    await handle
      .close()
      .catch((err) => console.error(`  ${system.label}: close failed: ${err.message}`));
    const left = await handle.cleanup(admin);
    if (shared === false) {
      const dbsize = await admin.dbsize();
      if (dbsize !== 0) {
        const [, sample] = await admin.scan('0', 'COUNT', 10_000);
        console.error(
          `  ${system.label}: ${dbsize} keys left after cleanup (${left} deleted), e.g. ${sample
            .slice(0, 5)
            .map((k) => JSON.stringify(k))
            .join(', ')}`,
        );
      }
    }
  }
  if (profileFile && existsSync(profileFile))
    result.workerProfile = { file: profileFile, ...summarizeProfile(profileFile) };
  return result;
}

/** W1: publish N tasks concurrently while one worker process runs them; until all stored. */
async function runW1(system, n = config.tasks, hooks = {}, profileAs = undefined) {
  return withRun(
    system,
    async (h, spawnWorker) => {
      const wp = await spawnWorker();
      await wp.request({ cmd: 'start' }, 'started', 30_000);
      await wp.request({ cmd: 'watch', target: n }, 'watching', 10_000);
      const reached = wp.next('reached', config.timeoutMs);
      reached.catch(() => undefined);
      await hooks.before?.();
      const before = await snapshot(admin);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await h.publishConcurrent(n, config.batch);
      const tPublished = performance.now();
      const r = await reached;
      const t1 = performance.now();
      const after = await snapshot(admin);
      const cpu = process.cpuUsage(cpu0);
      await hooks.after?.();
      const check = await h.verify(n, admin);
      if (!check.ok) throw new Error(`W1 verification failed: ${check.detail}`);
      const seconds = (t1 - t0) / 1000;
      const redis = diff(before, after);
      return {
        seconds,
        throughput: n / seconds,
        publishSeconds: (tPublished - t0) / 1000,
        workerRssPeakMB: r.rssPeak / 2 ** 20,
        workerRssStartMB: r.rssAtStart / 2 ** 20,
        workerCpuUsPerTask: (r.cpuUserUs + r.cpuSystemUs) / n,
        publisherCpuUsPerTask: (cpu.user + cpu.system) / n,
        redisCpuUsPerTask: redis.cpuUs / n,
        commandsPerTask: redis.totalCalls / n,
        redisCommandUsPerTask: redis.totalUsec / n,
        commands: redis.commands,
        tasks: n,
        verified: check.detail,
      };
    },
    { profileAs },
  );
}

/** W2: pre-fill N tasks with no worker consuming, then start the worker and time the drain. */
async function runW2(system) {
  const n = config.tasks;
  return withRun(system, async (h, spawnWorker) => {
    const wp = await spawnWorker(); // connected, not consuming
    const p0 = performance.now();
    await h.publishConcurrent(n, config.batch);
    const prefillSeconds = (performance.now() - p0) / 1000;
    await wp.request({ cmd: 'watch', target: n }, 'watching', 10_000);
    const reached = wp.next('reached', config.timeoutMs);
    reached.catch(() => undefined);
    const t0 = performance.now();
    await wp.request({ cmd: 'start' }, 'started', 30_000);
    const r = await reached;
    const seconds = (performance.now() - t0) / 1000;
    const check = await h.verify(n, admin);
    if (!check.ok) throw new Error(`W2 verification failed: ${check.detail}`);
    return {
      seconds,
      throughput: n / seconds,
      prefillSeconds,
      workerRssPeakMB: r.rssPeak / 2 ** 20,
      workerCpuUsPerTask: (r.cpuUserUs + r.cpuSystemUs) / n,
      tasks: n,
      verified: check.detail,
    };
  });
}

/** W3: publish rate with no worker: (a) awaited one by one, (b) concurrently (c) BullMQ addBulk. */
async function runW3(system) {
  return withRun(system, async (h) => {
    let t0 = performance.now();
    await h.publishSequential(config.sequential);
    const seqSeconds = (performance.now() - t0) / 1000;
    t0 = performance.now();
    await h.publishConcurrent(config.tasks, config.batch);
    const concSeconds = (performance.now() - t0) / 1000;
    let bulkRate;
    if (h.publishBulk) {
      t0 = performance.now();
      await h.publishBulk(config.tasks, config.batch);
      bulkRate = config.tasks / ((performance.now() - t0) / 1000);
    }
    return {
      sequentialRate: config.sequential / seqSeconds,
      sequentialUs: (seqSeconds * 1e6) / config.sequential,
      concurrentRate: config.tasks / concSeconds,
      ...(bulkRate === undefined ? {} : { bulkRate }),
    };
  });
}

/** W4: round trips with an idle worker: publish, wait for the result, one at a time. */
async function runW4(system) {
  return withRun(system, async (h, spawnWorker) => {
    await h.prepareRoundTrip();
    const wp = await spawnWorker();
    await wp.request({ cmd: 'start' }, 'started', 30_000);
    const perCall = 30_000;
    for (let i = 0; i < config.roundTripWarmup; i++) await h.roundTrip(perCall);
    const lat = new Float64Array(config.roundTrips);
    const before = await snapshot(admin);
    for (let i = 0; i < config.roundTrips; i++) {
      const t = performance.now();
      await h.roundTrip(perCall);
      lat[i] = performance.now() - t;
    }
    const redis = diff(before, await snapshot(admin));
    const sorted = [...lat].sort((a, b) => a - b);
    return {
      commandsPerCall: redis.totalCalls / config.roundTrips,
      commands: redis.commands,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      mean: sorted.reduce((s, x) => s + x, 0) / sorted.length,
      max: sorted[sorted.length - 1],
      calls: config.roundTrips,
    };
  });
}

const PRODUCER_SCRIPT = new URL('./workers/producer.js', import.meta.url);

/**
 * W5 fan-in: 4 producer processes publish N/4 tasks each at once (W1's way, `batch` in
 * flight) while 2 worker processes run them; timed from the go to the producers until the
 * workers' done counts (W1's accounting: finished and result stored) add up to N.
 */
async function runW5(system) {
  const per = Math.ceil(config.tasks / config.producers);
  const n = per * config.producers;
  return withRun(system, async (h, spawnWorker, ctx) => {
    const workers = [];
    for (let i = 0; i < config.fanInWorkers; i++) workers.push(await spawnWorker());
    const producers = await Promise.all(
      Array.from({ length: config.producers }, () =>
        spawnWorker(PRODUCER_SCRIPT, { system: system.id, ctx }),
      ),
    );
    for (const wp of workers) await wp.request({ cmd: 'start' }, 'started', 30_000);
    const latest = workers.map(() => ({ done: 0, cpuUs: 0, rssPeak: 0 }));
    let total = 0;
    let reached;
    const allDone = new Promise((resolve, reject) => {
      reached = resolve;
      setTimeout(
        () => reject(new Error(`W5: ${total} of ${n} done within ${config.timeoutMs / 1000}s`)),
        config.timeoutMs,
      ).unref();
    });
    workers.forEach((wp, i) =>
      wp.on('progress', (m) => {
        total += m.done - latest[i].done;
        latest[i] = m;
        if (total >= n) reached(performance.now());
      }),
    );
    for (const wp of workers)
      await wp.request({ cmd: 'watch', target: n, progress: true }, 'watching', 10_000);
    const before = await snapshot(admin);
    const t0 = performance.now();
    const published = Promise.all(
      producers.map((p) =>
        p.request({ cmd: 'publish', n: per, batch: config.batch }, 'published', config.timeoutMs),
      ),
    );
    const t1 = await allDone;
    const pubs = await published;
    const after = await snapshot(admin);
    for (const p of producers) h.recordIds?.((await p.request({ cmd: 'ids' }, 'ids', 10_000)).ids);
    const check = await h.verify(n, admin);
    if (!check.ok) throw new Error(`W5 verification failed: ${check.detail}`);
    const seconds = (t1 - t0) / 1000;
    const redis = diff(before, after);
    const tasks = n;
    return {
      seconds,
      throughput: tasks / seconds,
      publishSeconds: Math.max(...pubs.map((p) => p.seconds)),
      producerCpuUsPerTask: pubs.reduce((s, p) => s + p.cpuUs, 0) / tasks,
      workerCpuUsPerTask: latest.reduce((s, m) => s + m.cpuUs, 0) / tasks,
      workerRssPeakMB: Math.max(...latest.map((m) => m.rssPeak)) / 2 ** 20,
      /** The smaller worker's share of the tasks (0.5: an even split). */
      smallerShare: Math.min(...latest.map((m) => m.done)) / tasks,
      redisCpuUsPerTask: redis.cpuUs / tasks,
      commandsPerTask: redis.totalCalls / tasks,
      tasks,
      verified: check.detail,
    };
  });
}

const RUNNERS = {
  W1: (system) => runW1(system, config.tasks, {}, 'W1'),
  W2: runW2,
  W3: runW3,
  W4: runW4,
  W5: runW5,
};

// ---------------------------------------------------------------------------------------

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

const serverInfo = await admin.info('server');
const loadBefore = os.loadavg();
const machine = {
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  totalMemGB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
  platform: `${os.platform()} ${os.release()}`,
  redis: /redis_version:(\S+)/.exec(serverInfo)?.[1] ?? 'unknown',
  redisServer: shared
    ? `given: ${redactUrl(url)}`
    : 'throwaway redis-server started by the bench (no persistence)',
  bullmq: bullmq.version,
  celeriac: gitDescribe(),
  loadAverageAtStart: loadBefore.map((x) => Number(x.toFixed(2))),
};
if (loadBefore[0] > 0.5) {
  console.warn(
    `note: load average is ${loadBefore[0].toFixed(2)} before the bench starts: other processes compete for the ${machine.cpus} CPUs, expect noisy figures`,
  );
}

console.log(
  `Celeriac vs BullMQ bench — node ${machine.node}, ${machine.cpus} CPUs (${machine.cpuModel}), Redis ${machine.redis}${shared ? ` at ${redactUrl(url)}` : ' (throwaway)'}`,
);
console.log(
  `workloads ${config.workloads.join(',')} × ${systems.map((s) => s.label).join(', ')}, ${config.reps} rep(s) interleaved; ` +
    `${config.tasks} tasks (W1/W2/W3b), ${config.sequential} awaited publishes (W3a), ${config.roundTrips} round trips (W4), concurrency ${config.concurrency}`,
);

/** @type {Record<string, Record<string, any[]>>} */
const runs = Object.fromEntries(
  systems.map((s) => [s.id, Object.fromEntries(config.workloads.map((w) => [w, []]))]),
);
/** @type {{ system: string, workload: string, rep: number, error: string }[]} */
const errors = [];
const started = performance.now();

// Untimed warm-up: JIT in this process, BullMQ's Lua scripts in Redis' script cache.
for (const system of systems) {
  try {
    await withTimeout(runW1(system, config.warmupTasks), outerTimeoutMs, `${system.label} warm-up`);
    console.log(`  warm-up ${system.label}: ok`);
  } catch (err) {
    console.error(`  warm-up ${system.label}: FAILED: ${err.message}`);
    errors.push({
      system: system.id,
      workload: 'warm-up',
      rep: 0,
      error: String(err.stack ?? err),
    });
  }
}

for (let rep = 1; rep <= config.reps; rep++) {
  for (const w of config.workloads) {
    for (const system of systems) {
      if (!supports(system, w)) continue;
      const t = performance.now();
      try {
        const result = await withTimeout(
          RUNNERS[w](system),
          outerTimeoutMs,
          `${system.label} ${w}`,
        );
        runs[system.id][w].push({ rep, ...result });
        console.log(
          `  rep ${rep} ${w} ${system.label.padEnd(8)} ${summarize(w, result)}  (${((performance.now() - t) / 1000).toFixed(1)}s)`,
        );
      } catch (err) {
        errors.push({ system: system.id, workload: w, rep, error: String(err.stack ?? err) });
        console.error(`  rep ${rep} ${w} ${system.label.padEnd(8)} FAILED: ${err.message}`);
      }
    }
  }
}

function summarize(w, r) {
  switch (w) {
    case 'W1':
      return `${r.throughput.toFixed(0)} tasks/s, ${r.commandsPerTask.toFixed(2)} cmds/task, worker RSS peak ${r.workerRssPeakMB.toFixed(0)} MB`;
    case 'W2':
      return `${r.throughput.toFixed(0)} tasks/s`;
    case 'W3':
      return `${r.sequentialRate.toFixed(0)} msg/s awaited, ${r.concurrentRate.toFixed(0)} msg/s concurrent${r.bulkRate ? `, ${r.bulkRate.toFixed(0)} msg/s addBulk` : ''}`;
    case 'W4':
      return `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`;
    case 'W5':
      return `${r.throughput.toFixed(0)} tasks/s, worker CPU ${r.workerCpuUsPerTask.toFixed(1)} µs/task, smaller worker's share ${(r.smallerShare * 100).toFixed(0)}%`;
    default:
      return '';
  }
}

/** @type {Record<string, any>} */
let monitor = {};
if (useMonitor && config.workloads.includes('W1')) {
  for (const system of systems.filter((s) => s.transport !== 'sqlite')) {
    try {
      monitor[system.id] = await withTimeout(
        monitorCommands(url, config.monitorTasks, (n, hooks) => runW1(system, n, hooks)),
        outerTimeoutMs,
        `${system.label} MONITOR pass`,
      );
    } catch (err) {
      console.error(`  MONITOR pass ${system.label}: FAILED: ${err.message}`);
      errors.push({
        system: system.id,
        workload: 'monitor',
        rep: 0,
        error: String(err.stack ?? err),
      });
    }
  }
}

const elapsedSeconds = (performance.now() - started) / 1000;
machine.loadAverageAtEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
const report = renderReport({ systems, runs, config, machine, monitor, errors, elapsedSeconds });
console.log(`\n${report}`);

mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `${stamp}.json`);
writeFileSync(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), argv: process.argv.slice(2), machine, config, runs, medians: medians(), monitor, errors, elapsedSeconds }, null, 2)}\n`,
);
console.log(`\nraw results: ${file}`);

function medians() {
  const out = {};
  for (const [sys, byW] of Object.entries(runs)) {
    out[sys] = {};
    for (const [w, list] of Object.entries(byW)) {
      if (list.length === 0) continue;
      out[sys][w] = {};
      for (const key of Object.keys(list[0])) {
        if (typeof list[0][key] === 'number') out[sys][w][key] = median(list.map((r) => r[key]));
      }
    }
  }
  return out;
}

stopping = true;
await teardown();
process.exit(errors.length > 0 ? 1 : 0);
