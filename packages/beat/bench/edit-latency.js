// How soon the leader acts on an edit made through another store instance (another replica,
// the CLI): one beat process leads on the store, polling only every 30 s; this process writes
// N entries, one after another, each due at the moment it is written, through its own store
// instance, and times each from just before the write until the leader's publish of its run
// is confirmed by the broker (both clocks are this machine's). Only the store's change notice
// can explain a figure below the 30 s poll.
//
//   node packages/beat/bench/edit-latency.js <redis-url | sqlite-url> [--edits 200] [--json]
//
// Used by beat-latency.js (`npm run bench:beat`), which runs it on Redis and on SQLite.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const POLL_S = 30;
const EDIT_TIMEOUT_MS = 5000;

/** The leader: a beat on the store, publishing through the broker (the same URL, but for PostgreSQL). */
async function child(url, namespace, queue) {
  const { Celeriac } = await import('@celeriac/client');
  const { silentLogger } = await import('@celeriac/core');
  const { Beat, createScheduleStore } = await import('@celeriac/beat');
  // PostgreSQL is a store, not a broker: its runs go to an in-process queue (what is timed is
  // the store's wake-up, up to the publish).
  const broker = /^postgres(ql)?:/i.test(url) ? 'memory://' : url;
  const app = new Celeriac({ broker, backend: false, logger: silentLogger });
  const store = await createScheduleStore(url, { namespace });
  const timedApp = {
    logger: silentLogger,
    sendTask(name, args, kwargs, options) {
      const result = app.sendTask(name, args, kwargs, { ...options, queue });
      const entry = options.headers.beat_entry;
      void result.published.then(() => process.send?.({ entry, at: Date.now() }));
      return result;
    },
  };
  const beat = new Beat(timedApp, {
    store,
    logger: silentLogger,
    maxLoopInterval: POLL_S,
    lockTtl: 120,
  });
  await beat.start();
  while (beat.role !== 'leader') await new Promise((r) => setTimeout(r, 10));
  process.send?.('started');
  process.on('message', () => {
    void (async () => {
      await beat.close();
      await store.close();
      await app.close();
      process.exit(0);
    })();
  });
}

/**
 * Runs the measurement against `url` (redis:// or sqlite://) and resolves with
 * `{ store, edits, acted, p50, p90, p99, max }` in milliseconds.
 */
export async function measureEditLatency(url, { edits = 200 } = {}) {
  const { BeatEntries, compileEntry, createScheduleStore, definitionHash, interval } =
    await import('@celeriac/beat');
  const tag = randomBytes(4).toString('hex');
  const namespace = `edit-bench-${tag}`;
  const queue = `edit-bench-${tag}`;
  const leader = fork(new URL(import.meta.url).pathname, [url, '--child', namespace, queue], {
    stdio: 'inherit',
  });
  const waiting = new Map();
  leader.on('message', (m) => {
    if (typeof m === 'object' && m !== null) waiting.get(m.entry)?.(m.at);
  });
  await new Promise((resolve, reject) => {
    leader.once('message', resolve);
    leader.once('exit', (code) => reject(new Error(`the beat process exited with ${code}`)));
  });
  const store = await createScheduleStore(url, { namespace });
  const latencies = [];
  try {
    for (let i = 0; i < edits; i++) {
      const name = `edit-${String(i).padStart(5, '0')}`;
      const acted = new Promise((resolve) => {
        waiting.set(name, resolve);
        setTimeout(() => resolve(undefined), EDIT_TIMEOUT_MS).unref();
      });
      const t0 = Date.now();
      // An entry due at the moment it is written: what `beat add` of a run due now writes.
      const { definition } = compileEntry(
        { name, task: 'bench.edit', schedule: interval({ hours: 1 }) },
        { timezone: 'UTC' },
      );
      await store.upsert(
        [
          {
            definition,
            hash: definitionHash(definition),
            enabled: true,
            source: 'api',
            nextRunAt: t0,
            dueAt: t0,
          },
        ],
        'create',
        t0,
      );
      const at = await acted;
      waiting.delete(name);
      if (at !== undefined) latencies.push(at - t0);
    }
    await new BeatEntries(store).removeAll();
  } finally {
    await store.close();
    await new Promise((resolve) => {
      leader.once('exit', resolve);
      leader.send('stop');
    });
  }
  if (url.startsWith('redis')) {
    const { Redis } = await import('ioredis');
    const redis = new Redis(url);
    const keys = [
      ...(await redis.keys(`_celeriac.beat.{${namespace}}.*`)),
      ...(await redis.keys(`*${queue}*`)),
    ];
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
  latencies.sort((a, b) => a - b);
  const pct = (p) =>
    latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return {
    store: url.split(':')[0],
    edits,
    acted: latencies.length,
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    max: latencies.at(-1) ?? NaN,
  };
}

export function formatEditLatency(r) {
  return `edit → published by the leader (${r.store}, poll ${POLL_S} s): ${r.acted} of ${r.edits} edits acted on; ms: p50 ${r.p50}  p90 ${r.p90}  p99 ${r.p99}  max ${r.max}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values: opts, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      edits: { type: 'string', default: '200' },
      json: { type: 'boolean', default: false },
      child: { type: 'boolean', default: false },
    },
  });
  const [url, namespace, queue] = positionals;
  if (!url) {
    console.log(
      'Usage: node packages/beat/bench/edit-latency.js <redis-url | sqlite-url> [--edits 200] [--json]',
    );
    process.exit(2);
  }
  if (opts.child) await child(url, namespace, queue);
  else {
    const r = await measureEditLatency(url, { edits: Number(opts.edits) });
    console.log(opts.json ? JSON.stringify(r) : formatEditLatency(r));
    process.exit(r.acted === r.edits ? 0 : 1);
  }
}
