// `npm run demo`: an app, a worker and a client in one process. With no broker configured it
// runs on the embedded default, a SQLite file (here a throwaway one in the temp folder); set
// CELERIAC_BROKER_URL=redis://localhost:6379 (or memory://) to run the same code elsewhere, and
// start more workers with `celeriac worker --app ...`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Celeriac, TaskError } from '@celeriac/client';
import { Worker } from '@celeriac/worker';
import { Beat, every } from '@celeriac/beat';
import { pino } from 'pino';

const logger = pino({ level: process.env.CELERIAC_LOG_LEVEL ?? 'error' });
const dir = mkdtempSync(join(tmpdir(), 'celeriac-demo-'));
const app = new Celeriac({
  broker: process.env.CELERIAC_BROKER_URL ?? `sqlite://${join(dir, 'celeriac.db')}`,
  logger,
});

const add = app.task('demo.add', (a, b) => a + b);
const slowSquare = app.task('demo.slow_square', async (n) => {
  await new Promise((r) => setTimeout(r, 50));
  return n * n;
});
const divide = app.task('demo.divide', (a, b) => {
  if (b === 0) {
    const err = new Error('division by zero');
    err.name = 'ZeroDivisionError';
    throw err;
  }
  return a / b;
});

const worker = new Worker(app, { concurrency: 8 });
await worker.start();

const broker = app.options.brokerUrl;
console.log(`Celeriac demo on ${broker}`);

console.log('add(2, 3)            =', await add.delay(2, 3).get({ timeout: 10 }));

const started = Date.now();
const squares = await Promise.all(
  [1, 2, 3, 4, 5, 6, 7, 8].map((n) => slowSquare.delay(n).get({ timeout: 10 })),
);
console.log(
  `slow_square(1..8)    = [${squares.join(', ')}] in ${Date.now() - started} ms (8 × 50 ms tasks, concurrency 8)`,
);

const later = add.applyAsync([40, 2], {}, { countdown: 0.3 });
console.log(
  'add(40, 2) countdown =',
  await later.get({ timeout: 10 }),
  '(ran 300 ms later, held by the broker)',
);

try {
  await divide.delay(1, 0).get({ timeout: 10 });
} catch (err) {
  if (err instanceof TaskError)
    console.log(`divide(1, 0)         -> ${err.type}: ${err.remoteMessage}`);
  else throw err;
}

// A periodic task: beat enqueues demo.tick every second (exactly once per tick, even with
// several beats on one SQLite file or one Redis); the worker runs it.
const ticks = [];
app.task('demo.tick', (label) => {
  ticks.push(new Date().toISOString().slice(11, 19));
  return label;
});
const beat = new Beat(app, {
  entries: [
    { name: 'every-second', task: 'demo.tick', schedule: every(1).seconds(), args: ['tick'] },
  ],
  logger,
});
await beat.start();
await new Promise((r) => setTimeout(r, 3300));
await beat.close();
console.log(
  `periodic demo.tick   = ran ${ticks.length} times, at ${ticks.join(', ')} (beat, every second)`,
);

const n = 2000;
const t0 = Date.now();
const results = await Promise.all(
  Array.from({ length: n }, (_, i) => add.delay(i, i).get({ timeout: 30 })),
);
const ms = Date.now() - t0;
const ok = results.every((v, i) => v === 2 * i);
console.log(
  `${n} tasks end to end  = ${ok ? 'all correct' : 'WRONG RESULTS'} in ${ms} ms (${Math.round((n / ms) * 1000)} tasks/s)`,
);

await worker.shutdown();
await app.close();
rmSync(dir, { recursive: true, force: true });
if (!ok) process.exit(1);
