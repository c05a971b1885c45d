// CPU time and resident memory of a process and its descendants, read from /proc, so the bench
// measures a Node worker and a (possibly prefork) Python worker the same way, from outside.
import { readdirSync, readFileSync } from 'node:fs';

const CLK_TCK = 100; // USER_HZ on Linux
const PAGE = 4096;

/** `/proc/<pid>/stat` fields after the command name: [state, ppid, ...]. */
function stat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** `pid` and every live descendant. */
export function processTree(pid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = stat(name);
    if (!f) continue;
    const ppid = Number(f[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(name));
  }
  const out = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** CPU (user + system, µs) and RSS (bytes) of the given pids, summed. */
export function usage(pids) {
  let cpuUs = 0;
  let rss = 0;
  for (const pid of pids) {
    const f = stat(pid);
    if (!f) continue;
    // After "comm": state(0) ppid(1) ... utime(11) stime(12) ... rss(21)
    cpuUs += ((Number(f[11]) + Number(f[12])) / CLK_TCK) * 1e6;
    rss += Number(f[21]) * PAGE;
  }
  return { cpuUs, rss };
}

/**
 * Samples a process tree's RSS every `intervalMs` (the tree is listed again every second, for a
 * pool that forks late) until stopped; reports the peak RSS and the CPU used meanwhile.
 */
export class TreeSampler {
  #pid;
  #pids;
  #timer;
  #listTimer;
  #cpu0;
  rssPeak = 0;
  rssStart = 0;

  constructor(pid, intervalMs = 50) {
    this.#pid = pid;
    this.#pids = processTree(pid);
    const u = usage(this.#pids);
    this.#cpu0 = u.cpuUs;
    this.rssPeak = this.rssStart = u.rss;
    this.#timer = setInterval(() => this.#sample(), intervalMs);
    this.#listTimer = setInterval(() => {
      this.#pids = processTree(this.#pid);
    }, 1000);
  }

  #sample() {
    const { rss } = usage(this.#pids);
    if (rss > this.rssPeak) this.rssPeak = rss;
  }

  /** Stops sampling; `{ rssPeak, rssStart, cpuUs }`. Children that exited meanwhile are not counted in cpuUs. */
  stop() {
    clearInterval(this.#timer);
    clearInterval(this.#listTimer);
    this.#pids = processTree(this.#pid);
    const u = usage(this.#pids);
    if (u.rss > this.rssPeak) this.rssPeak = u.rss;
    return { rssPeak: this.rssPeak, rssStart: this.rssStart, cpuUs: u.cpuUs - this.#cpu0 };
  }
}

/** CPU (µs) of one process so far, or undefined. */
export function cpuOf(pid) {
  if (!pid) return undefined;
  const f = stat(pid);
  return f ? ((Number(f[11]) + Number(f[12])) / CLK_TCK) * 1e6 : undefined;
}
