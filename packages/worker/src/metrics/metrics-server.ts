import type { Registry } from 'prom-client';
import { listenHttp, pathOf, type HttpEndpoint, type ListenOptions } from '../http-listen.js';

/**
 * Serves `registry` on `GET /metrics` in Prometheus' text format (what `celeriac worker
 * --metrics-port` runs). Binds 127.0.0.1 unless `host` says otherwise: metrics name tasks and
 * hosts, so exposing them is a choice.
 *
 * @example
 * ```ts
 * const metrics = new WorkerMetrics(worker);
 * const server = await startMetricsServer(metrics.registry, { port: 9808 });
 * // curl http://127.0.0.1:9808/metrics
 * await server.close();
 * ```
 */
export function startMetricsServer(
  registry: Registry,
  options: ListenOptions,
): Promise<HttpEndpoint> {
  return listenHttp(options, async (req, res) => {
    if (req.method !== 'GET' || pathOf(req) !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: metrics are on GET /metrics\n');
      return;
    }
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(body);
  });
}
