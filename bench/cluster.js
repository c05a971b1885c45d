// `node bench/cluster.js`: Celeriac on a Redis Cluster (the cluster layout), with 1, 2 and 3
// masters. For each size it starts a throwaway cluster on loopback (`startRedisCluster`, no
// replicas), publishes `--tasks` no-op tasks to a queue sharded over `--shards-per-master` ×
// masters hash tags, then forks `--workers` worker processes and times how long they take to
// drain it (each result stored on the cluster too). Prints a Markdown table.
//
//   node bench/cluster.js [--masters 1,2,3] [--tasks 20000] [--workers 2] [--concurrency 50]
//                         [--shards-per-master 2]
//
// Builds are not run: run `npx turbo run build --filter=@celeriac/worker... --filter=@celeriac/testing...`
// first. On a machine shared with other work the throughput is noise; the CPU per task of the
// workers (from process.cpuUsage) is steadier.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    masters: { type: 'string', default: '1,2,3' },
    tasks: { type: 'string', default: '20000' },
    workers: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '50' },
    'shards-per-master': { type: 'string', default: '2' },
    child: { type: 'string' },
    url: { type: 'string' },
    queue: { type: 'string' },
    shards: { type: 'string' },
    help: { type: 'boolean' },
  },
});

if (o.help) {
  console.log(
    'node bench/cluster.js [--masters 1,2,3] [--tasks 20000] [--workers 2] [--concurrency 50] [--shards-per-master 2]',
  );
} else if (o.child === 'worker') {
  await worker();
} else {
  await main();
}

function appFor(Celeriac, url, queue, shards, logger) {
  return new Celeriac({
    ...(logger ? { logger } : {}),
    broker: url,
    backend: url,
    defaultQueue: queue,
    brokerOptions: { shards },
  });
}

async function worker() {
  const { Celeriac } = await import('@celeriac/client');
  const { Worker } = await import('@celeriac/worker');
  const { pino } = await import('pino');
  const app = appFor(Celeriac, o.url, o.queue, Number(o.shards), pino({ level: 'warn' }));
  app.task('bench.noop', () => null);
  const w = new Worker(app, { concurrency: Number(o.concurrency), queues: [o.queue] });
  await app.broker();
  await app.resultBackend();
  process.send({ type: 'ready' });
  let cpuAtStart;
  process.on('message', async (m) => {
    if (m.type === 'start') {
      cpuAtStart = process.cpuUsage();
      await w.start();
      const timer = setInterval(() => process.send({ type: 'processed', n: w.processed }), 20);
      timer.unref();
    } else if (m.type === 'stop') {
      const cpu = process.cpuUsage(cpuAtStart);
      process.send({ type: 'done', n: w.processed, cpuUs: cpu.user + cpu.system });
      await w.shutdown({ timeout: 5 });
      await app.close();
      process.exit(0);
    }
  });
}

async function runOne(masters) {
  const { startRedisCluster } = await import('@celeriac/testing');
  const { Celeriac } = await import('@celeriac/client');
  const tasks = Number(o.tasks);
  const shards = masters * Number(o['shards-per-master']);
  const cluster = await startRedisCluster({ masters, replicasPerMaster: 0 });
  const queue = `bench-cluster-${masters}-${process.pid}`;
  try {
    const client = appFor(Celeriac, cluster.url, queue, shards);
    const t0 = performance.now();
    for (let i = 0; i < tasks; i += 1000) {
      const chunk = [];
      for (let k = i; k < Math.min(tasks, i + 1000); k++) {
        chunk.push(client.sendTask('bench.noop', [], {}, { ignoreResult: true }).published);
      }
      await Promise.all(chunk);
    }
    const publishMs = performance.now() - t0;

    const self = fileURLToPath(import.meta.url);
    const args = ['--child', 'worker', '--url', cluster.url, '--queue', queue];
    args.push('--shards', String(shards), '--concurrency', o.concurrency);
    const children = Array.from({ length: Number(o.workers) }, () =>
      fork(self, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
    const processed = new Array(children.length).fill(0);
    await Promise.all(children.map((c) => new Promise((resolve) => c.once('message', resolve))));
    let resolveDone;
    const allDone = new Promise((r) => (resolveDone = r));
    children.forEach((c, i) =>
      c.on('message', (m) => {
        if (m.type !== 'processed') return;
        processed[i] = m.n;
        if (processed.reduce((a, b) => a + b, 0) >= tasks) resolveDone();
      }),
    );
    const t1 = performance.now();
    for (const c of children) c.send({ type: 'start' });
    await allDone;
    const drainMs = performance.now() - t1;
    const reports = await Promise.all(
      children.map(
        (c) =>
          new Promise((resolve) => {
            c.on('message', (m) => m.type === 'done' && resolve(m));
            c.send({ type: 'stop' });
          }),
      ),
    );
    const cpuUs = reports.reduce((a, r) => a + r.cpuUs, 0);
    await Promise.all(
      children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)),
    );
    await client.close();
    return {
      masters,
      shards,
      publishPerS: Math.round(tasks / (publishMs / 1000)),
      drainPerS: Math.round(tasks / (drainMs / 1000)),
      cpuUsPerTask: Math.round((cpuUs / tasks) * 10) / 10,
    };
  } finally {
    await cluster.stop();
  }
}

async function main() {
  const rows = [];
  for (const m of o.masters.split(',').map(Number)) rows.push(await runOne(m));
  console.log(
    `\n${o.tasks} no-op tasks, ${o.workers} worker process(es) × concurrency ${o.concurrency}, results stored\n`,
  );
  console.log('| masters | shards | publish (tasks/s) | drain (tasks/s) | worker CPU (µs/task) |');
  console.log('| ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(
      `| ${r.masters} | ${r.shards} | ${r.publishPerS} | ${r.drainPerS} | ${r.cpuUsPerTask} |`,
    );
  }
}
