/**
 * What a pool thread or child process runs: it loads the app module, then runs one task at
 * a time as the worker asks (see protocol.ts), building the task's context here so `this`
 * and `currentTask()` work as in the async pool. Results, errors, logs and state updates go
 * back to the worker, which stores them; nothing here talks to the broker or the backend.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { NonRetryableError, Retry, type RetryOptions, type TaskContext } from '@celeriac/client';
import { runWithTaskContext } from '@celeriac/client/internal';
import type { Logger, LogFn, TaskState } from '@celeriac/core';
import { TasksWithBuiltins } from '../builtins/index.js';
import { loadAppModule } from './app-module.js';
import {
  rebuildThrown,
  serializeThrown,
  type ChildInit,
  type ChildMessage,
  type LogLevel,
  type ParentMessage,
  type TaskRequest,
} from './protocol.js';

interface Channel {
  send(message: ChildMessage): void;
  onMessage(listener: (message: ParentMessage) => void): void;
}

const port = parentPort;
const channel: Channel = port
  ? { send: (m) => port.postMessage(m), onMessage: (l) => port.on('message', l) }
  : {
      send: (m) => {
        if (process.connected) process.send?.(m);
      },
      onMessage: (l) => process.on('message', (m) => l(m as ParentMessage)),
    };
const init = (port ? workerData : JSON.parse(process.argv[2] ?? 'null')) as ChildInit;
// A child whose worker died (even by SIGKILL) loses its IPC channel: it must not live on.
if (!port) process.once('disconnect', () => process.exit(1));

/** Stored as Celery's `kombu.exceptions.EncodeError`, never retried. */
class EncodeError extends NonRetryableError {
  readonly excModule = 'kombu.exceptions';
  constructor(message: string) {
    super(message);
    this.name = 'EncodeError';
  }
}

class NotRegistered extends Error {
  readonly excModule = 'celery.exceptions';
  constructor(name: string) {
    super(`task "${name}" is not registered in the app module the pool loaded`);
    this.name = 'NotRegistered';
  }
}

function memoryKiB(): number {
  if (port) {
    const heap = getHeapStatistics();
    return Math.round((heap.used_heap_size + heap.external_memory) / 1024);
  }
  return Math.round(process.memoryUsage.rss() / 1024);
}

/** Sends a log line; an object that cannot be cloned is sent as strings. */
function relayLogger(seq: number, bindings: Record<string, unknown>): Logger {
  const level =
    (name: LogLevel): LogFn =>
    (objOrMsg: Record<string, unknown> | string, msg?: string) => {
      const obj = typeof objOrMsg === 'string' ? { ...bindings } : { ...bindings, ...objOrMsg };
      const text = typeof objOrMsg === 'string' ? objOrMsg : msg;
      try {
        channel.send({ type: 'log', seq, level: name, obj, msg: text });
      } catch {
        const plain = Object.fromEntries(
          Object.entries(obj).map(([k, v]) => [
            k,
            v instanceof Error ? (v.stack ?? v.message) : String(v),
          ]),
        );
        channel.send({ type: 'log', seq, level: name, obj: plain, msg: text });
      }
    };
  return {
    trace: level('trace'),
    debug: level('debug'),
    info: level('info'),
    warn: level('warn'),
    error: level('error'),
    fatal: level('fatal'),
    child: (more) => relayLogger(seq, { ...bindings, ...more }),
  };
}

const controllers = new Map<number, AbortController>();
const stateCalls = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
let lastCall = 0;
/** The app's tasks and Celery's built-ins, made once the app is loaded. */
let builtins: TasksWithBuiltins | undefined;

function context(
  seq: number,
  r: TaskRequest,
  args: readonly unknown[],
  kwargs: Record<string, unknown>,
  controller: AbortController,
): TaskContext {
  return {
    id: r.id,
    name: r.name,
    args,
    kwargs,
    retries: r.retries,
    rootId: r.rootId,
    parentId: r.parentId,
    groupId: r.groupId,
    eta: r.eta === null ? null : new Date(r.eta),
    expires: r.expires === null ? null : new Date(r.expires),
    headers: r.headers,
    queue: r.queue,
    redelivered: r.redelivered,
    hostname: r.hostname,
    signal: controller.signal,
    logger: relayLogger(seq, {}),
    updateState: (state: TaskState, meta?: unknown) =>
      new Promise<void>((resolve, reject) => {
        const call = ++lastCall;
        stateCalls.set(call, { resolve, reject });
        try {
          channel.send({ type: 'state', seq, call, state, meta: meta ?? null });
        } catch (err) {
          stateCalls.delete(call);
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      }),
    retry: (options?: RetryOptions): never => {
      throw new Retry(options);
    },
  };
}

async function run(
  app: Awaited<ReturnType<typeof loadAppModule>>,
  m: Extract<ParentMessage, { type: 'run' }>,
): Promise<void> {
  const controller = new AbortController();
  controllers.set(m.seq, controller);
  let outcome: Extract<ChildMessage, { type: 'done' }>['outcome'];
  try {
    const task = (builtins ??= new TasksWithBuiltins(app)).get(m.request.name);
    if (!task) throw new NotRegistered(m.request.name);
    const ctx = context(m.seq, m.request, m.args, m.kwargs, controller);
    const value = await runWithTaskContext(ctx, () => task.fn.apply(ctx, [...m.args]));
    outcome = { kind: 'returned', value };
  } catch (err) {
    outcome = { kind: 'threw', error: serializeThrown(err) };
  } finally {
    controllers.delete(m.seq);
  }
  try {
    channel.send({ type: 'done', seq: m.seq, outcome, memoryKiB: memoryKiB() });
  } catch (err) {
    // The result cannot cross (a function, a class with private state...); it could not be stored either.
    const error = new EncodeError(
      `the task result cannot be serialized: ${(err as Error).message}`,
    );
    channel.send({
      type: 'done',
      seq: m.seq,
      outcome: { kind: 'threw', error: serializeThrown(error) },
      memoryKiB: memoryKiB(),
    });
  }
}

async function main(): Promise<void> {
  let app: Awaited<ReturnType<typeof loadAppModule>>;
  try {
    app = await loadAppModule(init);
  } catch (err) {
    // The worker kills us once it has read why: exiting here could drop the message unsent.
    channel.send({ type: 'loadFailed', error: serializeThrown(err) });
    return;
  }
  channel.onMessage((m) => {
    switch (m.type) {
      case 'run':
        void run(app, m);
        return;
      case 'abort':
        controllers.get(m.seq)?.abort(rebuildThrown(m.reason));
        return;
      case 'stateDone': {
        const pending = stateCalls.get(m.call);
        stateCalls.delete(m.call);
        if (m.error === null) pending?.resolve();
        else pending?.reject(new Error(m.error));
        return;
      }
      case 'exit':
        void app.close().finally(() => process.exit(0));
        return;
    }
  });
  channel.send({ type: 'ready', pid: process.pid, threadId });
}

void main();
