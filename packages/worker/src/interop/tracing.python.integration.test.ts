/**
 * OpenTelemetry across Python and Node on Redis, checked with an in-memory span exporter:
 * a trace started in Python (its `traceparent` in the task headers, exactly where
 * opentelemetry-instrumentation-celery injects it) continues in a Celeriac worker, whose
 * CONSUMER span is its child, whose task's sends are children of that, and whose log lines
 * carry the trace; a trace started in Node reaches a Python task's `request`.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { Celeriac, type TaskContext } from '@celeriac/client';
import {
  requirePythonCelery,
  runPythonScript,
  startCeleryWorker,
  uniqueName,
  type CeleryWorkerHandle,
  type PythonEnv,
} from '@celeriac/testing';
import { Worker } from '../index.js';

const redisUrl = inject('redisUrl');
const exporter = new InMemorySpanExporter();
const contextManager = new AsyncLocalStorageContextManager().enable();

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PY_SPAN_ID = '00f067aa0ba902b7';

describe('trace context between Python Celery and Celeriac on Redis', () => {
  const queue = uniqueName('otel');
  const pyQueue = uniqueName('otel-py');
  const env: PythonEnv = { brokerUrl: redisUrl };
  const logLines: Record<string, unknown>[] = [];
  let app: Celeriac;
  let worker: Worker;
  let python: CeleryWorkerHandle;

  beforeAll(async () => {
    requirePythonCelery();
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    context.setGlobalContextManager(contextManager);
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    app = new Celeriac({ broker: redisUrl, backend: redisUrl, logger, defaultQueue: queue });
    app.task('otel.leaf', (n: number) => n + 1);
    app.task('otel.parent', async function (this: TaskContext, n: number) {
      this.logger.info({ n }, 'parent runs');
      return app.sendTask<number>('otel.leaf', [n]).get({ timeout: 10 });
    });
    worker = new Worker(app, { concurrency: 4 });
    await worker.start();
    python = await startCeleryWorker({ ...env, queues: [pyQueue] });
  });
  afterAll(async () => {
    await python?.stop();
    await worker?.shutdown({ timeout: 1 });
    await app?.close();
    trace.disable();
    propagation.disable();
    context.disable();
  });

  const spansOf = (traceId: string): ReadableSpan[] =>
    exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);

  it('continues a Python-started trace in a Celeriac worker', async () => {
    const sent = await runPythonScript<{ id: string }>(
      'interop_tracing.py',
      [
        'otel.parent',
        '[41]',
        '--queue',
        queue,
        '--traceparent',
        `00-${TRACE_ID}-${PY_SPAN_ID}-01`,
        '--tracestate',
        'vendor=python',
      ],
      env,
    );
    expect(await app.asyncResult<number>(sent.id).get({ timeout: 20 })).toBe(42);
    // parent's CONSUMER, its PRODUCER for the leaf, the leaf's CONSUMER.
    await expect
      .poll(() => spansOf(TRACE_ID).filter((s) => s.kind === SpanKind.CONSUMER).length)
      .toBe(2);
    const spans = spansOf(TRACE_ID);
    const parentRun = spans.find(
      (s) => s.kind === SpanKind.CONSUMER && s.attributes['celery.task_name'] === 'otel.parent',
    );
    expect(parentRun).toBeDefined();
    expect(parentRun!.name).toBe(`process ${queue}`);
    expect(parentRun!.parentSpanContext?.spanId).toBe(PY_SPAN_ID);
    expect(parentRun!.parentSpanContext?.isRemote).toBe(true);
    expect(parentRun!.parentSpanContext?.traceState?.get('vendor')).toBe('python');
    expect(parentRun!.attributes).toMatchObject({
      'messaging.system': 'redis',
      'messaging.operation.type': 'process',
      'messaging.destination.name': queue,
      'messaging.message.id': sent.id,
    });
    const send = spans.find((s) => s.kind === SpanKind.PRODUCER);
    expect(send?.name).toBe(`send ${queue}`);
    expect(send?.parentSpanContext?.spanId).toBe(parentRun!.spanContext().spanId);
    expect(send?.attributes).toMatchObject({
      'messaging.operation.type': 'send',
      'celery.task_name': 'otel.leaf',
    });
    const leafRun = spans.find(
      (s) => s.kind === SpanKind.CONSUMER && s.attributes['celery.task_name'] === 'otel.leaf',
    );
    expect(leafRun?.parentSpanContext?.spanId).toBe(send?.spanContext().spanId);
    expect(leafRun?.attributes['messaging.message.id']).toBe(
      send?.attributes['messaging.message.id'],
    );
    // The task's log line carries the trace.
    const line = logLines.find((l) => l['msg'] === 'parent runs');
    expect(line).toMatchObject({
      trace_id: TRACE_ID,
      span_id: parentRun!.spanContext().spanId,
      taskId: sent.id,
    });
  });

  it('marks a failed run with error.type', async () => {
    app.task('otel.boom', () => {
      throw new TypeError('no');
    });
    const tracer = trace.getTracer('test');
    const root = tracer.startSpan('root');
    const r = context.with(trace.setSpan(context.active(), root), () => app.sendTask('otel.boom'));
    root.end();
    await expect(r.get({ timeout: 10 })).rejects.toThrow();
    const traceId = root.spanContext().traceId;
    await expect
      .poll(() => spansOf(traceId).filter((s) => s.kind === SpanKind.CONSUMER).length)
      .toBe(1);
    const run = spansOf(traceId).find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(run.status.code).toBe(SpanStatusCode.ERROR);
    expect(run.attributes['error.type']).toBe('TypeError');
  });

  it('carries a Node-started trace to a Python task', async () => {
    const tracer = trace.getTracer('test');
    const root = tracer.startSpan('node root');
    const r = context.with(trace.setSpan(context.active(), root), () =>
      app.sendTask<{ traceparent: string | null; tracestate: string | null }>(
        'py.traceparent',
        [],
        {},
        { queue: pyQueue },
      ),
    );
    const got = await r.get({ timeout: 20 });
    root.end();
    const traceId = root.spanContext().traceId;
    const send = spansOf(traceId).find((s) => s.kind === SpanKind.PRODUCER);
    expect(send?.name).toBe(`send ${pyQueue}`);
    expect(send?.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(got.traceparent).toBe(`00-${traceId}-${send!.spanContext().spanId}-01`);
  });
});
