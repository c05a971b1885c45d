// `node bench/gc-drain.js`: what a Celeriac worker keeps alive, in one process.
//
// Pre-fills a queue with no-op tasks (from a child process, so the worker's heap starts
// clean), then drains it with a Worker in this process and reports CPU per task, peak RSS,
// V8's new and old space at the peak, and from V8's own per-scavenge trace the bytes that
// survived each scavenge and the bytes promoted to the old generation. Survival is what grows
// the young generation (V8 doubles it once enough bytes survived) and what feeds full GCs; a
// worker should keep little beyond its in-flight messages.
//
//   node bench/gc-drain.js [--tasks 20000] [--concurrency 50] [--prefetch 200] [--mode worker]
//                          [--events] [--cpu-prof <dir>] [--callgrind <out file>] [--alloc-prof <file>]
//
// --events drains with Celery events on (`-E`). --cpu-prof writes the drain process's V8
// profile to <dir>. --alloc-prof writes a sampling heap profile of everything the drain
// allocated (collected objects included) as JSON. --callgrind runs the drain process under
// `valgrind --tool=callgrind` (slow, but its count repeats within about 1% on a busy machine)
// and reports `instructions`: the difference between two task counts divided by the
// difference in tasks is the instructions per task, start-up cancelled out. It counts user
// space only (every thread, the JIT's included), not the kernel's work on a write.
//
// --mode consumer drains with the broker and result backend alone (no Worker class): each
// message is decoded, its result stored with its fused ack. Comparing the two modes says
// whether something retained sits in the worker or below it. Builds are not run: run
// `npx turbo run build` first.
import { execFileSync, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    tasks: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '50' },
    prefetch: { type: 'string' },
    mode: { type: 'string', default: 'worker' },
    events: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    'alloc-prof': { type: 'string' },
    callgrind: { type: 'string' },
    child: { type: 'string' },
    url: { type: 'string' },
    queue: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (o.help) {
  // The header comment above is the usage.
  const text = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const usage = text.slice(0, text.indexOf('\nimport ')).replace(/^\/\/ ?/gm, '');
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const tasks = Number(o.tasks);

if (o.child === 'fill') await fill(o.url, o.queue, tasks);
else if (o.child === 'drain') await drain(o.url, o.queue, tasks, o.mode);
else await main();

async function main() {
  const { startRedisServer } = await import('@celeriac/testing');
  const server = await startRedisServer();
  try {
    const queue = `gc-drain-${process.pid}`;
    const self = fileURLToPath(import.meta.url);
    const common = ['--url', server.url, '--queue', queue, '--tasks', String(tasks)];
    execFileSync(process.execPath, [self, '--child', 'fill', ...common], { stdio: 'inherit' });
    const { Redis } = await import('ioredis');
    const admin = new Redis(server.url);
    await admin.config('RESETSTAT');
    const trace = [];
    const fullGcs = [];
    const childArgs = [
      self,
      '--child',
      'drain',
      '--mode',
      o.mode,
      '--concurrency',
      o.concurrency,
      ...(o.prefetch ? ['--prefetch', o.prefetch] : []),
      ...(o.events ? ['--events'] : []),
      ...(o['alloc-prof'] ? ['--alloc-prof', o['alloc-prof']] : []),
      ...common,
    ];
    const nodeArgs = [
      '--trace-gc-nvp',
      ...(o['cpu-prof']
        ? ['--cpu-prof', '--cpu-prof-interval=250', `--cpu-prof-dir=${o['cpu-prof']}`]
        : []),
    ];
    let child;
    const report = await new Promise((resolve, reject) => {
      const stdio = ['ignore', 'pipe', 'inherit', 'ipc'];
      child = o.callgrind
        ? spawn(
            'valgrind',
            [
              '--tool=callgrind',
              `--callgrind-out-file=${o.callgrind}`,
              process.execPath,
              ...nodeArgs,
              ...childArgs,
            ],
            { stdio },
          )
        : fork(self, childArgs.slice(1), { execArgv: nodeArgs, stdio });
      let buffered = '';
      child.stdout.on('data', (chunk) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop();
        for (const line of lines) {
          if (line.includes(' gc=s ')) trace.push(nvp(line));
          else if (/ gc=m[cs] /.test(line)) fullGcs.push(nvp(line));
        }
      });
      child.on('message', resolve);
      child.on('error', reject);
      child.on('exit', (code) => code !== 0 && reject(new Error(`drain exited with ${code}`)));
    });
    let instructions;
    if (o.callgrind) {
      await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r()));
      const totals = /^(?:summary|totals): (\d+)/m.exec(readFileSync(o.callgrind, 'utf8'));
      instructions = totals ? Number(totals[1]) : undefined;
    }
    // Round trips the worker made: the calls of each command, per task (this INFO excluded).
    const stats = await admin.info('commandstats');
    admin.disconnect();
    const callsPerTask = {};
    for (const m of stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
      if (m[1] !== 'info' && m[1] !== 'config')
        callsPerTask[m[1]] = Number((m[2] / tasks).toFixed(3));
    }
    // Scavenges after the drain started (the child marks it), the first few of which still
    // carry start-up: the median of the rest.
    const during = trace.filter((t) => t.at >= report.startedAtMs).slice(3);
    const med = (k) => median(during.map((t) => t[k]));
    console.log(
      JSON.stringify(
        {
          mode: o.mode,
          events: o.events,
          ...(instructions === undefined ? {} : { instructions }),
          tasksPerSecond: report.tasksPerSecond,
          cpuUsPerTask: report.cpuUsPerTask,
          systemCpuUsPerTask: report.systemCpuUsPerTask,
          rssStartMB: report.rssStartMB,
          rssPeakMB: report.rssPeakMB,
          newSpaceMB: report.newSpaceMB,
          oldSpaceMB: report.oldSpaceMB,
          callsPerTask,
          scavenges: during.length,
          fullGcs: fullGcs.filter((t) => t.at >= report.startedAtMs).length,
          medianPerScavenge: {
            allocatedKB: Math.round(med('allocated') / 1024),
            survivedKB: Math.round(med('new_space_survived') / 1024),
            promotedKB: Math.round(med('promoted') / 1024),
            pauseMs: med('pause'),
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await server.stop();
  }
}

function nvp(line) {
  const at = Number(/\s(\d+) ms: /.exec(line)?.[1] ?? 0);
  const out = { at };
  for (const m of line.matchAll(/(\w+)=([\d.]+)/g)) out[m[1]] = Number(m[2]);
  return out;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
}

async function fill(url, queue, n) {
  const { Celeriac } = await import('@celeriac/client');
  const { pino } = await import('pino');
  const app = new Celeriac({
    broker: url,
    backend: url,
    defaultQueue: queue,
    logger: pino({ level: 'warn' }),
  });
  const noop = app.task('bench.noop', () => null);
  await app.declareQueue(queue);
  for (let s = 0; s < n; s += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, n - s) }, () => noop.delay().published));
  }
  await app.close();
}

async function drain(url, queue, n, mode) {
  const v8 = await import('node:v8');
  const { pino } = await import('pino');
  const concurrency = Number(o.concurrency);
  const prefetch = o.prefetch ? Number(o.prefetch) : concurrency * 4;
  const logger = pino({ level: 'warn' });
  let processed;
  let start;
  let stop;
  if (mode === 'consumer') {
    ({ processed, start, stop } = await consumerOnly(url, queue, concurrency, prefetch));
  } else {
    const { Celeriac } = await import('@celeriac/client');
    const { Worker } = await import('@celeriac/worker');
    const app = new Celeriac({ broker: url, backend: url, defaultQueue: queue, logger });
    app.task('bench.noop', () => null);
    const worker = new Worker(app, { concurrency, prefetch, queues: [queue], events: o.events });
    await app.broker();
    await app.resultBackend();
    await app.declareQueue(queue);
    processed = () => worker.processed;
    start = () => worker.start();
    stop = async () => {
      await worker.shutdown({ timeout: 5 });
      await app.close();
    };
  }
  const rssStart = process.memoryUsage.rss();
  let peak = { rss: 0, newSpace: 0, oldSpace: 0 };
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss <= peak.rss) return;
    const spaces = Object.fromEntries(
      v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size]),
    );
    peak = { rss, newSpace: spaces.new_space ?? 0, oldSpace: spaces.old_space ?? 0 };
  }, 10);
  let session;
  if (o['alloc-prof']) {
    const { Session } = await import('node:inspector/promises');
    session = new Session();
    session.connect();
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
  const startedAtMs = Math.round(performance.now());
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await start();
  while (processed() < n) await new Promise((r) => setTimeout(r, 2));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (session) {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    (await import('node:fs')).writeFileSync(o['alloc-prof'], JSON.stringify(profile));
  }
  clearInterval(sampler);
  await stop();
  const MB = (b) => Math.round(b / 2 ** 20);
  process.send({
    startedAtMs,
    tasksPerSecond: Math.round(n / seconds),
    cpuUsPerTask: Number(((cpu.user + cpu.system) / n).toFixed(1)),
    systemCpuUsPerTask: Number((cpu.system / n).toFixed(1)),
    rssStartMB: MB(rssStart),
    rssPeakMB: MB(peak.rss),
    newSpaceMB: MB(peak.newSpace),
    oldSpaceMB: MB(peak.oldSpace),
  });
  process.disconnect();
}

/** The broker and result backend alone: decode, store with the fused ack, `concurrency` at once. */
async function consumerOnly(url, queue, concurrency, prefetch) {
  const { RedisBroker } = await import('@celeriac/broker/redis');
  const { RedisResultBackend } = await import('@celeriac/result-backend/redis');
  const core = await import('@celeriac/core');
  const broker = new RedisBroker({ url });
  const backend = new RedisResultBackend({ url });
  await broker.declareQueue(queue);
  let done = 0;
  let running = 0;
  const waiting = [];
  const run = async (d) => {
    const msg = core.decodeTaskMessage(d.message);
    const doc = core.buildResultDocument({
      taskId: msg.headers.id,
      status: 'SUCCESS',
      result: null,
      dateDone: new Date(),
    });
    await backend.store(doc, { ack: d });
  };
  const pump = () => {
    while (running < concurrency && waiting.length > 0) {
      running++;
      void run(waiting.shift()).finally(() => {
        running--;
        done++;
        pump();
      });
    }
  };
  let consumer;
  return {
    processed: () => done,
    start: async () => {
      consumer = await broker.consume({
        queues: [queue],
        prefetch,
        onMessage: (d) => {
          waiting.push(d);
          pump();
        },
      });
    },
    stop: async () => {
      await consumer?.cancel();
      await broker.close();
      await backend.close();
    },
  };
}
