import type { Logger } from '@celeriac/core';
import { startHealthServer, type HttpEndpoint, type Worker } from '@celeriac/worker';
import { intOption, str, type Parsed } from './parse.js';

/** The worker flags of the HTTP endpoints, for `parse()`. */
export const endpointOptions = {
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  'health-port': { type: 'string' },
  'health-host': { type: 'string' },
} as const;

export const ENDPOINTS_HELP = `      --metrics-port <n>        Serve Prometheus metrics on GET /metrics (celery-exporter's names,
                                so its Grafana dashboards work; see docs/observability.md)
      --metrics-host <addr>     Interface for --metrics-port (default: 127.0.0.1)
      --health-port <n>         Serve a health probe: GET /livez (event loop and broker alive),
                                /readyz (and running); 200 or 503 with a JSON reason
      --health-host <addr>      Interface for --health-port (default: 0.0.0.0, for orchestrators)`;

/**
 * Opens the metrics and health endpoints the flags ask for, before the worker starts (so a
 * readiness probe sees it starting). prom-client is loaded only with --metrics-port.
 */
export async function startWorkerEndpoints(
  worker: Worker,
  p: Parsed,
  logger: Logger,
): Promise<() => Promise<void>> {
  const opened: HttpEndpoint[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(opened.splice(0).map((e) => e.close()));
  };
  try {
    const metricsPort = intOption(str(p, 'metrics-port'), '--metrics-port', 0);
    if (metricsPort !== undefined) {
      const { WorkerMetrics, startMetricsServer } = await import('@celeriac/worker/metrics');
      const metrics = new WorkerMetrics(worker);
      const host = str(p, 'metrics-host') ?? '127.0.0.1';
      const server = await startMetricsServer(metrics.registry, { port: metricsPort, host });
      opened.push(server);
      logger.info({ url: `${server.url}/metrics` }, 'serving Prometheus metrics');
    }
    const healthPort = intOption(str(p, 'health-port'), '--health-port', 0);
    if (healthPort !== undefined) {
      const host = str(p, 'health-host') ?? '0.0.0.0';
      const server = await startHealthServer(worker, { port: healthPort, host });
      opened.push(server);
      logger.info({ url: `${server.url}/livez` }, 'serving the health probe');
    }
  } catch (err) {
    await close();
    throw err;
  }
  return close;
}
