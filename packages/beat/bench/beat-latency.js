// How late beat enqueues a due run: N entries due every second (default 1,000), one beat
// process on a Redis store publishing through Celeriac's Redis broker. Lateness = when the
// broker confirmed the message (its `published` promise settled, i.e. Redis has it) − the
// run's scheduled time. Afterwards this process reads the queue from Redis and checks that
// each (entry, scheduled time) in the measured window is there exactly once.
//
//   node packages/beat/bench/beat-latency.js redis://127.0.0.1:6379/0 [--entries 1000] [--seconds 20] [--warmup 3] [--edits 200] [--sqlite sqlite:///tmp/x.db] [--postgres postgresql://127.0.0.1/test] [--json]
//
// Prints p50 / p90 / p99 / max in milliseconds, and checks that every run arrived exactly once.
// Then, with --edits N (0 skips it), the "edit → acted on by the leader" latency on Redis and
// on SQLite (a temporary file unless --sqlite names one), and on PostgreSQL with --postgres
// (the bench's own namespace in that database): see edit-latency.js.
// Only the bench's own keys (and temporary file) are written and deleted afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { formatEditLatency, measureEditLatency } from './edit-latency.js';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    entries: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    edits: { type: 'string', default: '200' },
    sqlite: { type: 'string' },
    postgres: { type: 'string' },
    json: { type: 'boolean', default: false },
    child: { type: 'boolean', default: false },
    namespace: { type: 'string' },
    queue: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
const url = positionals[0] ?? process.env.REDIS_URL;
if (opts.help || !url) {
  console.log(
    'Usage: node packages/beat/bench/beat-latency.js <redis-url> [--entries 1000] [--seconds 20] [--warmup 3] [--edits 200] [--sqlite <url>] [--postgres <url>] [--json]',
  );
  process.exit(opts.help ? 0 : 2);
}
const entries = Number(opts.entries);

if (opts.child) {
  // The beat process.
  const { Celeriac } = await import('@celeriac/client');
  const { silentLogger } = await import('@celeriac/core');
  const { Beat, interval } = await import('@celeriac/beat');
  const { RedisScheduleStore } = await import('@celeriac/beat/redis');
  const app = new Celeriac({ broker: url, backend: false, logger: silentLogger });
  const store = new RedisScheduleStore({ url, namespace: opts.namespace });
  // The app as beat sees it, noting when each publish is confirmed.
  const confirmed = [];
  const timedApp = {
    logger: silentLogger,
    sendTask(name, args, kwargs, options) {
      const result = app.sendTask(name, args, kwargs, options);
      const scheduled = Date.parse(options.headers.beat_scheduled_at);
      void result.published.then(() => confirmed.push([scheduled, Date.now() - scheduled]));
      return result;
    },
  };
  const beat = new Beat(timedApp, {
    store,
    logger: silentLogger,
    entries: Array.from({ length: entries }, (_, i) => ({
      name: `bench-${String(i).padStart(5, '0')}`,
      task: 'bench.noop',
      schedule: interval({ seconds: 1 }),
      options: { queue: opts.queue },
    })),
  });
  await beat.start();
  process.send?.('started');
  process.on('message', () => {
    void (async () => {
      await beat.stop();
      await store.close();
      await app.close();
      process.send?.(confirmed, () => process.exit(0));
    })();
  });
} else {
  const tag = randomBytes(4).toString('hex');
  const namespace = `bench-${tag}`;
  const queue = `beat-bench-${tag}`;
  const seconds = Number(opts.seconds);
  const warmup = Number(opts.warmup);
  const redis = new Redis(url);
  const child = fork(
    new URL(import.meta.url).pathname,
    [url, '--child', '--entries', String(entries), '--namespace', namespace, '--queue', queue],
    { stdio: 'inherit' },
  );
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`the beat process exited with ${code}`)));
  });
  const measureFrom = Math.ceil(Date.now() / 1000) * 1000 + warmup * 1000;
  const measureTo = measureFrom + seconds * 1000;
  await new Promise((r) => setTimeout(r, measureTo + 500 - Date.now()));
  const confirmed = await new Promise((resolve) => {
    child.once('message', resolve);
    child.send('stop');
  });
  await new Promise((resolve) => child.once('exit', resolve));
  const late = confirmed.filter(([t]) => t >= measureFrom && t < measureTo).map(([, l]) => l);

  // Exactly once, read from the queue itself.
  const seen = new Set();
  let duplicates = 0;
  let received = 0;
  const total = await redis.llen(queue);
  for (let i = 0; i < total; i += 5000) {
    for (const raw of await redis.lrange(queue, i, i + 4999)) {
      const h = JSON.parse(raw).headers;
      const scheduled = Date.parse(h.beat_scheduled_at);
      const key = `${h.beat_entry}@${scheduled}`;
      if (seen.has(key)) duplicates++;
      seen.add(key);
      if (scheduled >= measureFrom && scheduled < measureTo) received++;
    }
  }
  const keys = [
    ...(await redis.keys(`_celeriac.beat.{${namespace}}.*`)),
    ...(await redis.keys(`*${queue}*`)),
  ];
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();

  late.sort((a, b) => a - b);
  const pct = (p) => late[Math.min(late.length - 1, Math.floor((p / 100) * late.length))] ?? NaN;
  const result = {
    entries,
    seconds,
    expected: entries * seconds,
    received,
    confirmed: late.length,
    duplicates,
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    max: late.at(-1) ?? NaN,
  };
  const edits = Number(opts.edits);
  if (edits > 0) {
    result.edit = [await measureEditLatency(url, { edits })];
    const dir = opts.sqlite ? undefined : mkdtempSync(join(tmpdir(), 'celeriac-edit-bench-'));
    try {
      result.edit.push(
        await measureEditLatency(opts.sqlite ?? `sqlite://${join(dir, 'bench.db')}`, { edits }),
      );
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
    if (opts.postgres) result.edit.push(await measureEditLatency(opts.postgres, { edits }));
  }
  if (opts.json) console.log(JSON.stringify(result));
  else {
    console.log(
      `beat latency: ${entries} entries due every second, ${seconds} s measured after ${warmup} s of warm-up`,
    );
    console.log(
      `  runs: ${result.received} of ${result.expected} expected, ${duplicates} duplicates`,
    );
    console.log(
      `  lateness (publish confirmed − scheduled), ms: p50 ${result.p50}  p90 ${result.p90}  p99 ${result.p99}  max ${result.max}`,
    );
    for (const r of result.edit ?? []) console.log(formatEditLatency(r));
  }
  const editsOk = (result.edit ?? []).every((r) => r.acted === r.edits);
  process.exit(
    received === result.expected && late.length === result.expected && duplicates === 0 && editsOk
      ? 0
      : 1,
  );
}
