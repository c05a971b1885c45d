import type * as OtelApiModule from '@opentelemetry/api';

type OtelApi = typeof OtelApiModule;

/**
 * `@opentelemetry/api`, when the application installed it (an optional peer): loaded once,
 * when this module loads, so a publish or a run never waits for it. Without it, tracing is
 * off and costs one `undefined` check per publish and per run.
 */
export const otel: OtelApi | undefined = await import('@opentelemetry/api').catch(() => undefined);

/** The tracer name of Celeriac's spans (instrumentation scope). */
export const TRACER_NAME = '@celeriac/celeriac';

/** OpenTelemetry's `messaging.system` for a broker kind. */
export function messagingSystem(kind: string | undefined): string {
  return kind === 'amqp' ? 'rabbitmq' : (kind ?? 'unknown');
}

/** OpenTelemetry's `error.type` for what a task threw or a publish rejected with. */
export function errorType(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' && name ? name : '_OTHER';
}
