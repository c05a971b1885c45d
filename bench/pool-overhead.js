// Per-task cost of each worker pool: N no-op tasks (`pool.add`) on memory://, published at
// once and awaited, after a warm-up, for the async, threads and process pools.
//   npm run build && node bench/pool-overhead.js [N=2000] [concurrency=1,4]
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { silentLogger } from '@celeriac/core';
import { Worker } from '@celeriac/worker';

const FIXTURE = fileURLToPath(
  new URL('../packages/worker/test-fixtures/pool-app.js', import.meta.url),
);
const fx = await import(FIXTURE);
const n = Number(process.argv[2] ?? 2000);
const concurrencies = (process.argv[3] ?? '1,4').split(',').map(Number);

async function timed(count) {
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: count }, (_, i) => fx.add.delay(i, 1).get({ timeout: 120 })),
  );
  return performance.now() - t0;
}

console.log(`| pool | concurrency | ${n} tasks | per task | tasks/s |`);
console.log('| --- | --- | --- | --- | --- |');
for (const concurrency of concurrencies) {
  for (const pool of ['async', 'threads', 'process']) {
    const worker = new Worker(fx.app, {
      pool,
      appModule: FIXTURE,
      concurrency,
      logger: silentLogger,
    });
    await worker.start();
    await timed(1000); // warm-up
    const ms = await timed(n);
    await worker.shutdown();
    console.log(
      `| ${pool} | ${concurrency} | ${ms.toFixed(0)} ms | ${((ms * 1000) / n).toFixed(0)} µs | ${Math.round((n * 1000) / ms)} |`,
    );
  }
}
await fx.app.close();
