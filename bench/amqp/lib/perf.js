// `--perf`: on-CPU sampling of Node processes with Linux perf, over the timed window only.
//
// --cpu-prof samples the main thread's *wall* time: on a machine whose CPUs are all busy, time
// the thread spends preempted inside a write(2) (a loopback send wakes the peer, which may run
// first) shows up as `writeBuffer`. perf's cpu-clock event samples only what runs, in every
// thread (V8's background JIT compiler and GC threads included), so it says what a task costs in
// CPU. The process runs under `perf record -k CLOCK_MONOTONIC` (process.hrtime's clock, so the
// bench's window selects the samples) with --perf-basic-prof (names for JIT-compiled JS).
import { execFileSync, spawnSync } from 'node:child_process';

export const PERF_HZ = 1999;

/** Whether `perf record` works here (installed, and perf events allowed). */
export function perfAvailable() {
  const r = spawnSync('perf', ['record', '-e', 'cpu-clock', '-o', '/dev/null', '--', 'true'], {
    encoding: 'utf8',
  });
  return !r.error && r.status === 0;
}

/** The command that runs `node ...args` under perf record, writing `file`. */
export function perfCommand(file, nodeArgs) {
  return {
    command: 'perf',
    args: [
      'record',
      '-q',
      '-k',
      'CLOCK_MONOTONIC',
      '-e',
      'cpu-clock',
      '-F',
      String(PERF_HZ),
      '-g',
      '-o',
      file,
      '--',
      process.execPath,
      '--perf-basic-prof',
      ...nodeArgs,
    ],
  };
}

function jsArea(s) {
  if (s.includes('amqplib')) return 'JS: amqplib';
  const pkg = /\/packages\/([^/]+)\//.exec(s);
  if (pkg) return `JS: @celeriac/${pkg[1]}`;
  if (s.includes('node:')) return 'JS: node core';
  if (s.includes('/bench/')) return 'JS: bench harness';
  const mod = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(s);
  if (mod) return `JS: ${mod[1]}`;
  return 'JS: other';
}

/** What one sample (its stack, leaf first) was doing. */
function classify(stack) {
  if (stack.length === 0) return '?';
  if (stack[0].dso.includes('[kernel')) {
    const k = stack
      .filter((f) => f.dso.includes('[kernel'))
      .map((f) => f.sym)
      .join(' | ');
    if (/tcp_sendmsg|sock_sendmsg|sock_write_iter|__x64_sys_write|ksys_write|do_writev/.test(k))
      return 'kernel: socket write(2), incl. loopback delivery';
    if (/tcp_recvmsg|sock_recvmsg|sock_read_iter|__x64_sys_read|ksys_read/.test(k))
      return 'kernel: socket read(2)';
    if (/epoll/.test(k)) return 'kernel: epoll';
    if (/page_fault|do_anonymous|handle_mm/.test(k)) return 'kernel: page faults';
    if (/futex/.test(k)) return 'kernel: futex';
    return 'kernel: other (scheduling, irq)';
  }
  for (const { sym, dso } of stack.slice(0, 25)) {
    if (sym.startsWith('JS:') || dso.includes('perf-')) return jsArea(sym);
    if (
      /Scaveng|MarkCompact|Sweep|ConcurrentMarking|Heap::Collect|IncrementalMarking|Heap::Perform|MinorMC/.test(
        sym,
      )
    )
      return 'V8: garbage collection';
    if (/compiler::|Compiler::|OptimizingCompile|PipelineImpl|Maglev|baseline::/.test(sym))
      return 'V8: JIT compilation (background threads)';
    if (/InterpreterEntryTrampoline|Interpreter/.test(sym))
      return 'JS: not yet optimized (interpreter)';
  }
  if (/malloc|free|memmove|memcpy/.test(stack[0].sym)) return 'libc malloc/memcpy';
  return 'V8/node native, other';
}

/**
 * On-CPU samples of the process in [fromUs, toUs] (CLOCK_MONOTONIC µs), by what they did.
 * @returns {{ cpuMs: number, mainThreadMs: number, byCategory: { name: string, pct: number }[] }}
 */
export function summarizePerf(file, fromUs, toUs) {
  const out = execFileSync('perf', ['script', '-i', file, '-F', 'tid,time,ip,sym,dso'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  /** @type {{ tid: number, t: number, stack: { sym: string, dso: string }[] }[]} */
  const samples = [];
  let cur;
  for (const line of out.split('\n')) {
    const head = /^\s*(\d+)\s+([\d.]+):\s*$/.exec(line);
    if (head) {
      cur = { tid: Number(head[1]), t: Number(head[2]) * 1e6, stack: [] };
      samples.push(cur);
      continue;
    }
    const frame = /^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$/.exec(line);
    if (cur && frame) cur.stack.push({ sym: frame[1], dso: frame[2] });
  }
  const inWindow = samples.filter((s) => s.t >= fromUs && s.t <= toUs);
  const perTid = new Map();
  for (const s of samples) perTid.set(s.tid, (perTid.get(s.tid) ?? 0) + 1);
  const main = [...perTid.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const counts = new Map();
  for (const s of inWindow) {
    const k = classify(s.stack);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const n = Math.max(1, inWindow.length);
  return {
    cpuMs: Math.round((inWindow.length / PERF_HZ) * 1000),
    mainThreadMs: Math.round((inWindow.filter((s) => s.tid === main).length / PERF_HZ) * 1000),
    byCategory: [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, c]) => ({ name, pct: Number(((c / n) * 100).toFixed(1)) })),
  };
}
