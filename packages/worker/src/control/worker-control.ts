import type { Celeriac, RateLimit } from '@celeriac/client';
import {
  decodeTaskMessage,
  type Broker,
  type ControlChannel,
  type Delivery,
  type Logger,
  type SerializerName,
  type TaskMessage,
} from '@celeriac/core';
import { DEFAULT_REVOKE_TTL_MS, type Slots } from '@celeriac/core/internal';
import type { Admission } from '../admission.js';
import { TasksWithBuiltins } from '../builtins/index.js';
import type { Executor } from '../execution.js';
import type { InFlight } from '../in-flight.js';
import type { Intake } from '../intake.js';
import { DEFAULT_PREFETCH_MULTIPLIER, type CompiledWorkerOptions } from '../worker-options.js';
import { ControlRefusal } from './control-args.js';
import type { Command, ControlledWorker, QueriedState } from './commands.js';
import { RemoteControl } from './remote-control.js';
import { activeTaskInfo, taskInfo, type ScheduledInfo, type TaskInfo } from './task-info.js';
import { queueInfo, workerConf, workerReport, workerStats } from './worker-info.js';

/** The parts of a worker its remote control reads and changes. */
export interface WorkerInternals {
  /** The worker itself (its public face). */
  readonly worker: {
    readonly app: Celeriac;
    readonly hostname: string;
    readonly logger: Logger;
    readonly concurrency: number;
    shutdown(): Promise<void>;
  };
  readonly options: CompiledWorkerOptions;
  readonly startedAt: number;
  /** Delivered, not yet given a slot. */
  readonly waiting: readonly Delivery[];
  readonly running: Slots<InFlight>;
  /** Runs started per task name. */
  readonly totals: ReadonlyMap<string, number>;
  readonly admission: Admission;
  readonly executor: Executor;
  readonly intake: Intake;
  broker(): Broker | undefined;
  /** Sets the concurrency and fills the slots it freed. */
  setConcurrency(n: number): void;
}

/**
 * The worker side of Celery's remote control: what `celery inspect` reads (reserved,
 * scheduled, revoked, stats, …) and what `celery control` changes at run time (rate and time
 * limits, concurrency, consumed queues, shutdown).
 */
export class WorkerControl implements ControlledWorker {
  readonly hostname: string;
  readonly #w: WorkerInternals;
  readonly #app: Celeriac;
  readonly #logger: Logger;
  readonly #tasks: TasksWithBuiltins;
  /** Rate limits set by `rate_limit`, as their text (`null`: removed). */
  readonly #rateTexts = new Map<string, string | null>();
  #autoscaler: { max: number; min: number } | undefined;

  constructor(w: WorkerInternals) {
    this.#w = w;
    this.hostname = w.worker.hostname;
    this.#app = w.worker.app;
    this.#logger = w.worker.logger;
    this.#tasks = new TasksWithBuiltins(this.#app);
  }

  /** Replies go in the app's task serializer, as kombu's mailbox uses Celery's. */
  get serializer(): SerializerName {
    return this.#app.options.taskSerializer;
  }

  tasks(): { name: string; rateLimit: string | null }[] {
    const names = new Set([...this.#tasks.keys(), ...this.#app.tasks.keys()]);
    return [...names].map((name) => ({
      name,
      rateLimit: this.#rateTexts.has(name)
        ? (this.#rateTexts.get(name) ?? null)
        : (this.#tasks.get(name)?.options.rateLimit ?? null),
    }));
  }

  hasTask(name: string): boolean {
    return this.#tasks.get(name) !== undefined;
  }

  active(): TaskInfo[] {
    return this.#w.running.values().flatMap((e) => activeTaskInfo(e, this.hostname));
  }

  reserved(): TaskInfo[] {
    const fresh = this.#w.waiting.flatMap((d) => {
      const msg = decoded(d);
      return msg ? [{ delivery: d, msg }] : [];
    });
    return [...this.#w.admission.waiting(), ...fresh].map(({ msg, delivery }) =>
      taskInfo(msg, delivery, this.hostname),
    );
  }

  scheduled(): ScheduledInfo[] {
    return this.#w.admission.scheduled().map(({ msg, delivery, eta }) => {
      const priority = delivery.message.properties.priority;
      return {
        eta: msg.headers.eta ?? new Date(eta).toISOString(),
        priority: typeof priority === 'number' ? priority : 0,
        request: taskInfo(msg, delivery, this.hostname),
      };
    });
  }

  query(ids: readonly string[]): Record<string, [QueriedState, TaskInfo]> {
    const wanted = new Set(ids);
    const out: Record<string, [QueriedState, TaskInfo]> = {};
    for (const info of this.active()) if (wanted.has(info.id)) out[info.id] = ['active', info];
    const waiting = [...this.reserved(), ...this.scheduled().map((s) => s.request)];
    for (const info of waiting) if (wanted.has(info.id)) out[info.id] ??= ['reserved', info];
    return out;
  }

  revoked(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.#w.admission.revocations()) {
      out[r.id] = (r.expiresAt - DEFAULT_REVOKE_TTL_MS) / 1000;
    }
    return out;
  }

  revoke(ids: readonly string[], terminate: boolean): string[] {
    const running = terminate
      ? ids.filter((id) => this.#w.running.find((e) => e.taskId === id && e.msg !== undefined))
      : [];
    const expiresAt = Date.now() + DEFAULT_REVOKE_TTL_MS;
    for (const id of ids) this.#w.admission.revoke({ id, terminate, expiresAt });
    return running;
  }

  mergeRevoked(revoked: Record<string, number>): void {
    const now = Date.now();
    for (const [id, at] of Object.entries(revoked)) {
      const expiresAt = (typeof at === 'number' ? at * 1000 : now) + DEFAULT_REVOKE_TTL_MS;
      if (expiresAt > now) this.#w.admission.revoke({ id, terminate: false, expiresAt });
    }
  }

  stats(clock: number): Record<string, unknown> {
    const w = this.#w;
    const pool = w.executor.pool;
    const broker = w.broker();
    return workerStats({
      totals: w.totals,
      clock,
      startedAt: w.startedAt,
      now: Date.now(),
      pool: pool ? pool.kind : 'async',
      concurrency: w.worker.concurrency,
      processes: pool ? pool.members() : [process.pid],
      maxTasksPerChild: w.options.pool?.maxTasksPerChild ?? null,
      running: w.running.size,
      prefetch: w.intake.prefetch,
      brokerUrl: this.#app.options.brokerUrl,
      brokerKind: broker?.kind ?? 'unknown',
      autoscaler: this.#autoscaler,
    });
  }

  conf(withDefaults: boolean): Record<string, unknown> {
    const w = this.#w;
    return workerConf(
      {
        app: this.#app.options,
        queues: w.intake.queues,
        concurrency: w.worker.concurrency,
        prefetch: w.intake.prefetch,
        pool: w.executor.pool?.kind ?? 'async',
        hostname: this.hostname,
      },
      withDefaults,
    );
  }

  report(): string {
    return workerReport(this.conf(false), this.#w.broker()?.kind ?? 'unknown');
  }

  activeQueues(): Record<string, unknown>[] {
    return this.#w.intake.queues.map(queueInfo);
  }

  setRateLimit(task: string, limit: RateLimit | null, text: string | null): void {
    this.#rateTexts.set(task, text);
    this.#w.admission.setRateLimit(task, limit);
    this.#logger.info({ task, rateLimit: text }, 'rate limit changed by remote control');
  }

  setTimeLimits(task: string, soft: number | null, hard: number | null): void {
    this.#w.executor.setTimeLimits(task, { soft, hard });
    this.#logger.info({ task, soft, hard }, 'time limits changed by remote control');
  }

  resize(delta: number): void {
    this.#resizeTo(this.#w.worker.concurrency + delta);
  }

  autoscale(max: number | undefined, min: number | undefined): { max: number; min: number } {
    const hi = max ?? this.#autoscaler?.max ?? this.#w.worker.concurrency;
    const lo = Math.min(min ?? this.#autoscaler?.min ?? hi, hi);
    if (!Number.isInteger(hi) || hi < 1 || !Number.isInteger(lo) || lo < 0) {
      throw new ControlRefusal(`autoscale needs integers max >= 1 and min >= 0, got ${hi} ${lo}`);
    }
    // A slot of the async pool costs nothing idle, and the pools' members start in
    // milliseconds: the worker runs at `max`, which is what an autoscaler reaches under load.
    this.#resizeTo(hi);
    this.#autoscaler = { max: hi, min: lo };
    return this.#autoscaler;
  }

  #resizeTo(n: number): void {
    const w = this.#w;
    if (!Number.isInteger(n) || n < 1) {
      throw new ControlRefusal(`the pool cannot shrink below 1 (it has ${w.worker.concurrency})`);
    }
    w.executor.pool?.resize(n);
    w.setConcurrency(n);
    // A prefetch not given follows concurrency, as Celery's `_update_prefetch_count`.
    const prefetch = w.options.prefetchGiven
      ? Math.max(w.intake.prefetch, n)
      : n * DEFAULT_PREFETCH_MULTIPLIER;
    if (prefetch !== w.intake.prefetch) this.#change({ prefetch }, 'prefetch change');
    this.#logger.info({ concurrency: n, prefetch }, 'concurrency changed by remote control');
  }

  addConsumer(queue: string): void {
    const queues = this.#w.intake.queues;
    if (queues.includes(queue)) return;
    this.#change({ queues: [...queues, queue] }, `add_consumer ${queue}`);
  }

  cancelConsumer(queue: string): void {
    const queues = this.#w.intake.queues;
    if (!queues.includes(queue)) return;
    this.#change({ queues: queues.filter((q) => q !== queue) }, `cancel_consumer ${queue}`);
  }

  shutdown(reason: string): void {
    this.#logger.warn(reason);
    // After this turn: the reply is on its way first (RemoteControl.stop() waits for it).
    setImmediate(() => void this.#w.worker.shutdown());
  }

  memory(): number {
    return process.memoryUsage.rss();
  }

  #change(o: { queues?: readonly string[]; prefetch?: number }, what: string): void {
    this.#w.intake.change(o).then(
      () => this.#logger.info({ queues: this.#w.intake.queues }, `${what}: consuming`),
      (err: unknown) => this.#logger.error({ err }, `${what} failed; the consumer is unchanged`),
    );
  }
}

function decoded(d: Delivery): TaskMessage | undefined {
  try {
    return decodeTaskMessage(d.message);
  } catch {
    return undefined;
  }
}

/** Listens for remote control on `channel`; undefined (and a warning) when it cannot. */
export async function listenForControl(
  channel: ControlChannel,
  worker: WorkerControl,
  logger: Logger,
  extra: Readonly<Record<string, Command>> = {},
): Promise<RemoteControl | undefined> {
  const serializer = worker.serializer;
  const remote = new RemoteControl(channel, worker, logger, serializer, extra);
  try {
    await remote.start();
    return remote;
  } catch (err) {
    logger.warn({ err }, 'remote control is off: could not listen for it');
    return undefined;
  }
}
