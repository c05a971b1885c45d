// Where a process's CPU went during the timed window only (not its start-up or shutdown), from a
// V8 .cpuprofile (node --cpu-prof). Its timestamps are CLOCK_MONOTONIC microseconds, the clock of
// process.hrtime in every process, so the bench's own window slices the children's profiles.
import { readFileSync } from 'node:fs';

/** Which part of the stack a script URL belongs to. */
function area(url) {
  if (!url) return 'native (syscalls, V8 builtins)';
  if (url.startsWith('node:')) return 'node core';
  const pkg = /\/packages\/([^/]+)\/dist\//.exec(url);
  if (pkg) return `@celeriac/${pkg[1]}`;
  const mod = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (mod) return mod[1];
  if (url.includes('/bench/')) return 'bench harness';
  return url;
}

function shortName(f) {
  const where = f.url
    ? ` ${f.url.replace(/^.*\/(node_modules|packages)\//, '')}:${f.lineNumber + 1}`
    : '';
  return `${f.functionName || '(anonymous)'}${where}`;
}

/** The hook functions themselves (not callbackTrampoline, which wraps every native callback). */
const HOOKS = new Set([
  'promiseInitHook',
  'promiseInitHookWithDestroyTracking',
  'promiseBeforeHook',
  'promiseAfterHook',
  'promiseResolveHook',
  'emitInitScript',
  'emitInitNative',
  'emitBeforeScript',
  'emitAfterScript',
  'emitDestroyScript',
  'emitBeforeNative',
  'emitAfterNative',
  '_propagate',
  'executionAsyncResource',
]);

/**
 * Frames whose *inclusive* time says what a task costs, by what they do. The first match from the
 * leaf up decides a sample's bucket.
 */
const BUCKETS = [
  [
    'socket writes (amqplib: one write(2) per frame or message)',
    (f) => f.functionName === 'writeBuffer' || f.functionName === 'writev',
  ],
  ['garbage collection', (f) => f.functionName === '(garbage collector)'],
  [
    'amqplib: encoding outgoing frames (publish properties, headers table)',
    (f) =>
      /amqplib\/lib\/(codec|defs)\.js/.test(f.url) &&
      /^encode|^module\.exports\.encode|encodeTable|encodeFieldValue|encodeBasicProperties|encodeMethod|encodeProperties/.test(
        f.functionName,
      ),
  ],
  [
    'amqplib: decoding incoming frames (deliveries, properties, confirms)',
    (f) =>
      /amqplib\/lib\/(codec|defs|frame|bitset)\.js/.test(f.url) &&
      /decode|parse/i.test(f.functionName),
  ],
  [
    'async_hooks / promise hooks (AsyncLocalStorage)',
    (f) => f.url.includes('async_hooks') && HOOKS.has(f.functionName),
  ],
];

/**
 * @param {string} file
 * @param {number} fromUs window start, process.hrtime µs
 * @param {number} toUs window end
 * @param {number} top
 */
export function summarizeWindow(file, fromUs, toUs, top = 15) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  let t = prof.startTime;
  let busy = 0;
  let idle = 0;
  const areas = new Map();
  const fns = new Map();
  const buckets = new Map();
  const inclusive = new Map();
  const add = (m, k, v = 1) => m.set(k, (m.get(k) ?? 0) + v);
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i];
    if (t < fromUs || t > toUs) continue;
    const node = byId.get(prof.samples[i]);
    const f = node.callFrame;
    if (f.functionName === '(idle)' || f.functionName === '(program)') {
      idle++;
      continue;
    }
    busy++;
    add(areas, f.functionName === '(garbage collector)' ? 'garbage collection' : area(f.url));
    add(fns, shortName(f));
    // The bucket: the first matching frame from the leaf up; else the leaf's area.
    let bucket;
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const cf = byId.get(id).callFrame;
      if (bucket === undefined) bucket = BUCKETS.find(([, test]) => test(cf))?.[0];
      const a = area(cf.url);
      if (a.startsWith('@celeriac/')) {
        const k = shortName(cf);
        if (!seen.has(k)) {
          seen.add(k);
          add(inclusive, k);
        }
      }
    }
    add(
      buckets,
      bucket ?? `other: ${f.functionName === '(garbage collector)' ? 'GC' : area(f.url)}`,
    );
  }
  const intervalUs = (prof.endTime - prof.startTime) / Math.max(1, prof.samples.length);
  const pct = (n) => Number(((n / Math.max(1, busy)) * 100).toFixed(1));
  const rank = (m, n = top) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => ({ name: k, pct: pct(v) }));
  return {
    windowMs: Math.round((toUs - fromUs) / 1000),
    busyMs: Math.round((busy * intervalUs) / 1000),
    idleMs: Math.round((idle * intervalUs) / 1000),
    byBucket: rank(buckets, 20),
    byArea: rank(areas),
    byFunction: rank(fns),
    celeriacInclusive: rank(inclusive, 12),
  };
}
