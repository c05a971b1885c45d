// A publishing process for the fan-in workload (W5): the system's own client (Celeriac's
// `delay()`, BullMQ's `queue.add`), opened on the run's queue exactly as the bench process
// opens it, so each producer publishes the way W1's single publisher does. Started by
// bench/run.js with child_process.fork; driven over IPC:
//   { cmd: 'publish', n, batch } → publishes n tasks, batch in flight → { type: 'published', seconds, cpuUs }
//   { cmd: 'ids' }               → { type: 'ids', ids } (Celeriac: the ids published, for verify)
//   { cmd: 'stop' }              → closes its client                    → { type: 'stopped' }
import { performance } from 'node:perf_hooks';
import { failStartup, workerConfig } from './child.js';

try {
  const cfg = workerConfig();
  const { system } =
    cfg.system === 'bullmq'
      ? { system: (await import('../systems/bullmq.js')).bullmq }
      : { system: (await import('../systems/celeriac.js')).celeriac };
  const handle = await system.open(cfg.ctx);
  const send = (msg) => process.send?.(msg);
  const onMessage = async (msg) => {
    try {
      switch (msg?.cmd) {
        case 'publish': {
          const cpu0 = process.cpuUsage();
          const t0 = performance.now();
          await handle.publishConcurrent(msg.n, msg.batch);
          const cpu = process.cpuUsage(cpu0);
          send({
            type: 'published',
            seconds: (performance.now() - t0) / 1000,
            cpuUs: cpu.user + cpu.system,
          });
          break;
        }
        case 'ids':
          send({ type: 'ids', ids: handle.publishedIds?.() ?? [] });
          break;
        case 'stop':
          await handle.close();
          send({ type: 'stopped' });
          process.disconnect?.();
          break;
        default:
          send({ type: 'error', message: `unknown command ${JSON.stringify(msg)}` });
      }
    } catch (err) {
      send({
        type: 'error',
        message: err instanceof Error ? (err.stack ?? err.message) : String(err),
      });
    }
  };
  process.on('message', (msg) => void onMessage(msg));
  process.on('disconnect', () => {
    setTimeout(() => process.exit(0), 2000).unref();
    void handle
      .close()
      .catch(() => undefined)
      .finally(() => process.exit(0));
  });
  send({ type: 'ready' });
} catch (err) {
  failStartup(err);
}
