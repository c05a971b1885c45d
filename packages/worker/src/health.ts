import type { Worker } from './worker.js';
import { listenHttp, pathOf, type HttpEndpoint, type ListenOptions } from './http-listen.js';

export interface HealthOptions extends ListenOptions {
  /** A broker round trip slower than this (ms) fails the probe. @default 2000 */
  brokerTimeoutMs?: number;
  /** An event-loop stall longer than this (ms) since the last probe fails it. @default 1000 */
  maxEventLoopLagMs?: number;
}

/** What a probe found; the JSON body of every answer. */
export interface HealthReport {
  readonly status: 'ok' | 'fail';
  readonly worker: string;
  readonly state: Worker['state'];
  /** Why it failed, when it did. */
  readonly reason?: string;
  readonly checks: {
    readonly eventLoop: { readonly ok: boolean; readonly lagMs: number };
    readonly broker: { readonly ok: boolean; readonly ms?: number; readonly error?: string };
  };
}

const TICK_MS = 100;

/**
 * An HTTP health probe for orchestrators (what `celeriac worker --health-port` runs):
 * `GET /livez` (and `/healthz`) answers 200 when the event loop keeps up (no stall over
 * `maxEventLoopLagMs` since the last probe) and a broker round trip (the length of the
 * worker's first queue) comes back within `brokerTimeoutMs`, and the worker has not
 * stopped; `GET /readyz` also needs the worker to be running (not starting or draining).
 * Otherwise 503. Each answer is a JSON `HealthReport` with the reason.
 *
 * @example
 * ```ts
 * const probe = await startHealthServer(worker, { port: 8080 });
 * // curl http://127.0.0.1:8080/livez
 * ```
 */
export async function startHealthServer(
  worker: Worker,
  options: HealthOptions,
): Promise<HttpEndpoint> {
  const brokerTimeoutMs = options.brokerTimeoutMs ?? 2000;
  const maxLag = options.maxEventLoopLagMs ?? 1000;
  let last = performance.now();
  let worstLag = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    worstLag = Math.max(worstLag, now - last - TICK_MS);
    last = now;
  }, TICK_MS);
  ticker.unref();

  const probe = async (ready: boolean): Promise<HealthReport> => {
    const lagMs = Math.round(Math.max(worstLag, performance.now() - last - TICK_MS, 0));
    worstLag = 0;
    const eventLoop = { ok: lagMs <= maxLag, lagMs };
    const broker = await brokerRoundTrip(worker, brokerTimeoutMs);
    const state = worker.state;
    const reason = !eventLoop.ok
      ? `the event loop stalled for ${String(lagMs)} ms (limit ${String(maxLag)})`
      : !broker.ok
        ? `no broker round trip: ${broker.error ?? 'failed'}`
        : state === 'stopped' || state === 'idle' || (ready && state !== 'running')
          ? `the worker is ${state}`
          : undefined;
    return {
      status: reason ? 'fail' : 'ok',
      worker: worker.hostname,
      state,
      ...(reason ? { reason } : {}),
      checks: { eventLoop, broker },
    };
  };

  const endpoint = await listenHttp(options, async (req, res) => {
    const path = pathOf(req);
    const ready = path === '/readyz';
    if (req.method !== 'GET' || !(ready || path === '/livez' || path === '/healthz')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'not found: GET /livez, /readyz or /healthz' }));
      return;
    }
    const report = await probe(ready);
    res.writeHead(report.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(report));
  });
  return {
    ...endpoint,
    close: () => {
      clearInterval(ticker);
      return endpoint.close();
    },
  };
}

async function brokerRoundTrip(
  worker: Worker,
  timeoutMs: number,
): Promise<HealthReport['checks']['broker']> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const broker = await worker.app.broker();
    const queue = worker.queues[0] ?? worker.app.options.defaultQueue;
    await Promise.race([
      broker.count(queue),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${String(timeoutMs)} ms`)),
          timeoutMs,
        );
      }),
    ]);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}
