// Reads a V8 .cpuprofile (node --cpu-prof) and says where the CPU went: self time by
// package/area and by function. Used by `--profile` to show what a worker spends per task on.
import { readFileSync } from 'node:fs';

/** Which part of the stack a script URL belongs to. */
function area(url) {
  if (!url) return '(native / GC / idle)';
  if (url.startsWith('node:')) return 'node core';
  const pkg = /\/packages\/([^/]+)\/dist\//.exec(url);
  if (pkg) return `@celeriac/${pkg[1]}`;
  const mod = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (mod) return mod[1];
  if (url.includes('/bench/')) return 'bench harness';
  return url;
}

/**
 * @param {string} file
 * @param {number} top
 */
export function summarizeProfile(file, top = 15) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const hits = new Map();
  for (const id of prof.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  let total = 0;
  let idle = 0;
  const areas = new Map();
  const fns = new Map();
  for (const [id, count] of hits) {
    const { callFrame: f } = byId.get(id);
    if (f.functionName === '(idle)' || f.functionName === '(program)') {
      idle += count;
      continue;
    }
    total += count;
    const a = f.functionName === '(garbage collector)' ? 'GC' : area(f.url);
    areas.set(a, (areas.get(a) ?? 0) + count);
    const name =
      `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.replace(/^.*\/(node_modules|packages)\//, '')}:${f.lineNumber + 1}` : ''}`.trim();
    fns.set(name, (fns.get(name) ?? 0) + count);
  }
  const pct = (n) => Number(((n / total) * 100).toFixed(1));
  const rank = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => ({ name: k, pct: pct(v) }));
  const intervalUs = (prof.endTime - prof.startTime) / prof.samples.length;
  return {
    busyMs: Math.round((total * intervalUs) / 1000),
    idleMs: Math.round((idle * intervalUs) / 1000),
    byArea: rank(areas),
    byFunction: rank(fns),
  };
}
