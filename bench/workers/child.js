// The IPC side every bench worker process shares. The parent drives it with messages:
//   { cmd: 'start' }            → start consuming                      → { type: 'started' }
//   { cmd: 'watch', target }    → reset the RSS peak and CPU baseline  → { type: 'watching' }
//                                 then, once `target` more tasks are done → { type: 'reached', ... }
//                                 with `progress: true`, also { type: 'progress', done, ... }
//                                 whenever its count moved (W5: workers share the target)
//   { cmd: 'stop' }             → shut down cleanly and exit             → { type: 'stopped' }
// The process says { type: 'ready' } once it is connected but not yet consuming, so the drain
// workload (W2) times consumption alone, not module loading or connecting.

/** How often the process samples its RSS and checks the done count. */
const SAMPLE_MS = 50;
const POLL_MS = 2;

/**
 * @param {{ start: () => Promise<void>, processed: () => number, stop: () => Promise<void> }} worker
 */
export function serveWorker(worker) {
  /** @type {Promise<void> | undefined} */
  let stopping;
  const stop = () => (stopping ??= worker.stop());
  let rssPeak = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > rssPeak) rssPeak = rss;
  }, SAMPLE_MS);

  /** @type {NodeJS.Timeout | undefined} */
  let poll;
  const send = (msg) => process.send?.(msg);

  const onMessage = async (msg) => {
    try {
      switch (msg?.cmd) {
        case 'start':
          await worker.start();
          send({ type: 'started' });
          break;
        case 'watch': {
          clearInterval(poll);
          const base = worker.processed();
          const cpu0 = process.cpuUsage();
          rssPeak = process.memoryUsage.rss();
          const rssAtStart = rssPeak;
          let reported = 0;
          poll = setInterval(() => {
            const done = worker.processed() - base;
            if (msg.progress && done !== reported) {
              // W5: several workers share the target; the parent sums their counts.
              reported = done;
              const cpu = process.cpuUsage(cpu0);
              send({ type: 'progress', done, rssPeak, cpuUs: cpu.user + cpu.system });
            }
            if (done < msg.target) return;
            clearInterval(poll);
            const rss = process.memoryUsage.rss();
            if (rss > rssPeak) rssPeak = rss;
            const cpu = process.cpuUsage(cpu0);
            send({
              type: 'reached',
              done,
              rssPeak,
              rssAtStart,
              cpuUserUs: cpu.user,
              cpuSystemUs: cpu.system,
            });
          }, POLL_MS);
          send({ type: 'watching' });
          break;
        }
        case 'stop':
          clearInterval(poll);
          clearInterval(sampler);
          await stop();
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
  // The parent going away (Ctrl-C, crash) must not leave a worker consuming.
  process.on('disconnect', () => {
    clearInterval(poll);
    clearInterval(sampler);
    setTimeout(() => process.exit(0), 2000).unref();
    void stop().finally(() => process.exit(0));
  });
  send({ type: 'ready', rss: process.memoryUsage.rss() });
}

/** The worker's settings, passed by the parent in BENCH_WORKER_CONFIG. */
export function workerConfig() {
  const raw = process.env.BENCH_WORKER_CONFIG;
  if (!raw) throw new Error('BENCH_WORKER_CONFIG is not set: this file is started by bench/run.js');
  return JSON.parse(raw);
}

/** Reports a startup failure to the parent before exiting. */
export function failStartup(err) {
  process.send?.({
    type: 'error',
    message: err instanceof Error ? (err.stack ?? err.message) : String(err),
  });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100);
}
