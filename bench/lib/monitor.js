// An extra, untimed W1 pass under MONITOR, which says what INFO commandstats cannot: which
// commands a client sent (each one a request on the wire) and which ran inside a Lua script
// (commandstats counts both). MONITOR slows Redis down, so this pass is never timed.
import { Redis } from 'ioredis';

const START = 'bench-monitor-start';
const END = 'bench-monitor-end';

/**
 * @param {string} url
 * @param {number} n tasks
 * @param {(n: number, hooks: { before: () => Promise<void>, after: () => Promise<void> }) => Promise<any>} runW1
 */
export async function monitorCommands(url, n, runW1) {
  // The markers go through their own connection, whose address MONITOR shows as the source.
  const marker = new Redis(url, { connectionName: 'bench-marker', lazyConnect: true });
  await marker.connect();
  const markerAddr = /addr=(\S+)/.exec(String(await marker.client('INFO')))?.[1];
  const monitor = await marker.monitor();
  /** @type {'before' | 'counting' | 'done'} */
  let state = 'before';
  const counts = {
    client: /** @type {Record<string, number>} */ ({}),
    lua: /** @type {Record<string, number>} */ ({}),
  };
  let endSeen = () => {};
  const ended = new Promise((resolve) => {
    endSeen = resolve;
  });
  monitor.on('monitor', (_time, args, source) => {
    const cmd = String(args[0] ?? '').toLowerCase();
    if (source === markerAddr) {
      if (cmd === 'echo' && args[1] === START) state = 'counting';
      else if (cmd === 'echo' && args[1] === END) {
        state = 'done';
        endSeen();
      }
      return;
    }
    if (state !== 'counting') return;
    // The harness's own INFO snapshots are not the system's traffic.
    if (cmd === 'info') return;
    const bucket = source === 'lua' ? counts.lua : counts.client;
    bucket[cmd] = (bucket[cmd] ?? 0) + 1;
  });
  try {
    const result = await runW1(n, {
      before: async () => {
        await marker.echo(START);
      },
      after: async () => {
        await marker.echo(END);
        await ended;
      },
    });
    const perTask = (bucket) =>
      Object.fromEntries(
        Object.entries(bucket)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [k, v / n]),
      );
    const total = (bucket) => Object.values(bucket).reduce((s, v) => s + v, 0) / n;
    return {
      tasks: n,
      clientCommandsPerTask: total(counts.client),
      luaCommandsPerTask: total(counts.lua),
      client: perTask(counts.client),
      lua: perTask(counts.lua),
      throughputUnderMonitor: result.throughput,
    };
  } finally {
    monitor.disconnect();
    marker.disconnect();
  }
}
