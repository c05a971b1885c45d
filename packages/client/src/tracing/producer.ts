import type { Broker, BrokerMessage, PublishOptions } from '@celeriac/core';
import { errorType, messagingSystem, otel, TRACER_NAME } from './otel.js';

/**
 * Publishes a task message inside a PRODUCER span `send <queue>` (a child of the active
 * span: the task running when a task sends another, or the caller's), with OpenTelemetry's
 * messaging attributes, and the span's context injected into the message headers by the
 * global propagator (W3C `traceparent` / `tracestate` by default), where Python's
 * opentelemetry-instrumentation-celery injects and reads them. Without `@opentelemetry/api`
 * this is `broker.publish`.
 */
export async function publishTraced(
  broker: Broker,
  queue: string,
  wire: BrokerMessage,
  options: PublishOptions,
): Promise<void> {
  const api = otel;
  if (!api) return broker.publish(queue, wire, options);
  const span = api.trace.getTracer(TRACER_NAME).startSpan(`send ${queue}`, {
    kind: api.SpanKind.PRODUCER,
    attributes: {
      'messaging.system': messagingSystem(broker.kind),
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': queue,
      'messaging.message.id': String(wire.headers['id']),
      'celery.task_name': String(wire.headers['task']),
    },
  });
  api.propagation.inject(api.trace.setSpan(api.context.active(), span), wire.headers);
  try {
    await broker.publish(queue, wire, options);
  } catch (err) {
    span.setAttribute('error.type', errorType(err));
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}
