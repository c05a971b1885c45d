import { receiveEvents, type Celeriac, type CeleryEvent } from '@celeriac/client';
import type { DashboardRoute, EventSubscriber } from '@celeriac/dashboard';
import { EventMetrics } from '@celeriac/worker/metrics';

/**
 * The dashboard's `/metrics`: celery-exporter's metrics fed by the same events the dashboard
 * shows (one subscription for both), queue lengths read at each scrape. Behind the dashboard's
 * basic auth when it has one.
 */
export function dashboardMetrics(
  app: Celeriac,
  queues: readonly string[] | undefined,
): { route: DashboardRoute; events: EventSubscriber } {
  const metrics = new EventMetrics(queues ? { queues } : {}).attach(app);
  return {
    route: {
      method: 'GET',
      path: '/metrics',
      handle: async ({ res }) => {
        const body = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(body);
      },
    },
    events: (a, onEvent) =>
      receiveEvents(a, (e: CeleryEvent) => {
        metrics.handle(e);
        onEvent(e);
      }),
  };
}
