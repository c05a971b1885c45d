import { Retry } from '@celeriac/client';
import { errorType, messagingSystem, otel, TRACER_NAME } from '@celeriac/client/internal';
import type { TaskMessage } from '@celeriac/core';
import type { Outcome } from './execution.js';

/** The CONSUMER span of one run. */
export interface ConsumerSpan {
  /** `trace_id` and `span_id` (hex), bound on the task's logger. */
  readonly ids: { readonly trace_id: string; readonly span_id: string };
  /** Calls `fn` with the span active: spans and tasks it starts are its children. */
  run<T>(fn: () => T): T;
  /** Ends the span with the run's outcome. */
  end(outcome: Outcome): void;
}

/**
 * Starts the CONSUMER span `process <queue>` of a run, a child of the context the message
 * headers carry (W3C `traceparent` / `tracestate`, read by the global propagator, where
 * Celeriac's producer and Python's opentelemetry-instrumentation-celery put them), with
 * OpenTelemetry's messaging attributes. Undefined without `@opentelemetry/api`, or when no
 * tracer provider records the span and no trace came in (the API's default).
 */
export function startConsumerSpan(
  msg: TaskMessage,
  queue: string,
  brokerKind: string | undefined,
): ConsumerSpan | undefined {
  const api = otel;
  if (!api) return undefined;
  const parent = api.propagation.extract(api.ROOT_CONTEXT, msg.headers);
  const span = api.trace.getTracer(TRACER_NAME).startSpan(
    `process ${queue}`,
    {
      kind: api.SpanKind.CONSUMER,
      attributes: {
        'messaging.system': messagingSystem(brokerKind),
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': queue,
        'messaging.message.id': msg.headers.id,
        'celery.task_name': msg.headers.task,
        'celery.retries': msg.headers.retries,
      },
    },
    parent,
  );
  // Nothing records it and no trace came in: nothing to continue, skip the context switch.
  // (With a trace in the headers the context is kept, so tasks sent from here carry it on.)
  if (!span.isRecording() && !api.trace.getSpanContext(parent)) return undefined;
  const active = api.trace.setSpan(parent, span);
  const sc = span.spanContext();
  return {
    ids: { trace_id: sc.traceId, span_id: sc.spanId },
    run: (fn) => api.context.with(active, fn),
    end(outcome) {
      const failure = failureOf(outcome);
      if (failure) {
        span.setAttribute('error.type', failure.type);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: failure.message });
      } else if (outcome.kind === 'threw') {
        span.setAttribute('celery.state', 'RETRY');
      }
      span.end();
    },
  };
}

/** What failed, for the span's `error.type` and status; undefined for a success or a retry. */
function failureOf(outcome: Outcome): { type: string; message: string } | undefined {
  switch (outcome.kind) {
    case 'returned':
      return undefined;
    case 'threw':
      if (outcome.error instanceof Retry) return undefined;
      return { type: errorType(outcome.error), message: String((outcome.error as Error)?.message) };
    case 'timeLimit':
      return { type: 'TimeLimitExceeded', message: `time limit (${String(outcome.seconds)} s)` };
    case 'revoked':
      return { type: 'TaskRevokedError', message: 'revoked with terminate' };
    case 'workerLost':
      return { type: errorType(outcome.error), message: 'worker lost' };
  }
}
