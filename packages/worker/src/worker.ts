import { performance } from 'node:perf_hooks';
import type { Celeriac, RegisteredTask } from '@celeriac/client';
import {
  CeleriacError,
  ErrorCodes,
  type Broker,
  type Clock,
  type ControlChannel,
  type Delivery,
  type Logger,
  type TaskMessage,
} from '@celeriac/core';
import { Slots } from '@celeriac/core/internal';
import { Admission, type Approved } from './admission.js';
import { TasksWithBuiltins } from './builtins/index.js';
import { drain } from './drain.js';
import { Executor } from './execution.js';
import type { RemoteControl } from './control/remote-control.js';
import { listenForControl, WorkerControl } from './control/worker-control.js';
import { inFlight, type InFlight } from './in-flight.js';
import { Intake } from './intake.js';
import { withAppUrls } from './pools/app-module.js';
import { ChildPool } from './pools/child-pool.js';
import { WorkerMonitor } from './events/monitor.js';
import type { TaskObserver } from './observe.js';
import { ResultWriter } from './result-writer.js';
import { RunContext, taskLogger, type ContextHost } from './run-context.js';
import {
  compileWorkerOptions,
  type CompiledWorkerOptions,
  type WorkerOptions,
} from './worker-options.js';

/**
 * Where a worker is in its life. `draining`: `shutdown()` or `abort()` was called; nothing
 * new starts, and what runs finishes or is requeued.
 */
export type WorkerState = 'idle' | 'starting' | 'running' | 'draining' | 'stopped';

/**
 * Consumes task messages, runs them with bounded concurrency and stores their results.
 *
 * Delivery is at-least-once: a message is acked only after its task finished and its result
 * (if any) was stored, in one round trip when broker and backend share a Redis. If the worker
 * dies, the broker redelivers what it held. Bad input never stops the worker: a malformed
 * message or an unknown task goes to the queue's dead letters with the reason.
 *
 * Each delivery goes through the pump: consumed into `#waiting`, given a free slot, decoded,
 * admitted (`Admission`: expiry, ETA, revocation, rate limit), run (`Executor`) and settled
 * (`ResultWriter`: the state stored with the ack).
 *
 * Lifecycle: `start()` once; `shutdown()` drains gracefully, `close()` is `shutdown()` with
 * its defaults, `abort()` requeues at once. All three are idempotent and may be called in
 * any order, even while `start()` is under way; each resolves once nothing the worker opened
 * is left running.
 *
 * @example
 * ```ts
 * const worker = new Worker(app, { concurrency: 50 });
 * await worker.start();
 * process.once('SIGTERM', () => void worker.shutdown());
 * ```
 */
export class Worker {
  readonly app: Celeriac;
  readonly hostname: string;
  readonly shutdownTimeoutMs: number;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly #options: CompiledWorkerOptions;
  readonly #writer: ResultWriter;
  readonly #admission: Admission;
  readonly #executor: Executor;
  /** Shared by every task context of this worker (no closures per task). */
  readonly #contextHost: ContextHost;
  #state: WorkerState = 'idle';
  #broker: Broker | undefined;
  /** The broker consumer, its queues and prefetch (remote control changes them). */
  readonly #intake: Intake;
  #concurrency: number;
  readonly #waiting: Delivery[] = [];
  readonly #running = new Slots<InFlight>();
  #starting: Promise<void> | undefined;
  #shuttingDown: Promise<void> | undefined;
  #aborting: Promise<void> | undefined;
  #intakeStopped: Promise<void> | undefined;
  #released: Promise<void> | undefined;
  /** Resolved by `abort()`: a graceful drain under way stops waiting. */
  readonly #abortRequested: Promise<'aborted'>;
  readonly #requestAbort: () => void;
  #processed = 0;
  /** Runs started per task name (`celery inspect stats` → total). */
  readonly #totals = new Map<string, number>();
  readonly #monitor: WorkerMonitor;
  #remoteControl: RemoteControl | undefined;
  readonly #startedAt = Date.now();
  readonly #whenStopped: Promise<void>;
  #resolveStopped!: () => void;

  constructor(app: Celeriac, options: WorkerOptions = {}) {
    this.app = app;
    const o = compileWorkerOptions(options, {
      defaultQueue: app.options.defaultQueue,
      logger: app.logger,
      clock: app.clock,
    });
    this.#options = o;
    this.#concurrency = o.concurrency;
    this.hostname = o.hostname;
    this.shutdownTimeoutMs = o.shutdownTimeoutMs;
    this.logger = o.logger.child({ worker: this.hostname });
    this.clock = o.clock;
    const observers = (this.#monitor = new WorkerMonitor(this.hostname, this.logger)).observers;
    const writer = new ResultWriter({
      observers,
      app,
      hostname: this.hostname,
      clock: this.clock,
      random: o.random,
      logger: this.logger,
      pool: o.pool?.kind ?? 'async',
    });
    this.#writer = writer;
    this.#contextHost = {
      hostname: this.hostname,
      storeState: (msg, state, meta, log) => writer.store(msg, state, meta, null, log),
    };
    const poolDeps = { size: o.concurrency, logger: this.logger };
    const pool = o.pool && new ChildPool(withAppUrls(o.pool, app), poolDeps);
    this.#executor = new Executor(pool, o.asyncContext, observers, () => this.#broker?.kind);
    this.#admission = new Admission({
      observers,
      tasks: new TasksWithBuiltins(app), // Celery's celery.map, .starmap, .chunks beside the app's
      logger: this.logger,
      clock: this.clock,
      writer,
      run: (entry, task, msg, log) => this.#run(entry, task, msg, log),
      accepting: () => this.#state === 'running',
      wake: () => this.#pump(),
      terminate: (id) => this.#running.find((e) => e.taskId === id)?.execution?.terminate(),
    });
    this.#intake = new Intake({
      queues: o.queues,
      prefetch: o.prefetch,
      logger: this.logger,
      declare: (q) => app.declareQueue(q),
      onMessage: (d) => this.#onMessage(d),
    });
    this.#whenStopped = new Promise((resolve) => (this.#resolveStopped = resolve));
    let requestAbort!: () => void;
    this.#abortRequested = new Promise((resolve) => (requestAbort = () => resolve('aborted')));
    this.#requestAbort = requestAbort;
  }

  get state(): WorkerState {
    return this.#state;
  }

  /** Queues consumed now (remote control's `add_consumer` / `cancel_consumer` change them). */
  get queues(): readonly string[] {
    return this.#intake.queues;
  }

  /** Tasks run at once (remote control's `pool_grow` / `pool_shrink` / `autoscale` change it). */
  get concurrency(): number {
    return this.#concurrency;
  }

  /** Messages held at once, running or waiting for a slot. */
  get prefetch(): number {
    return this.#intake.prefetch;
  }

  /** Resolves once the worker stopped: `shutdown()`, `abort()`, remote control's `shutdown`. */
  whenStopped(): Promise<void> {
    return this.#whenStopped;
  }

  /** Tasks finished (any outcome) since start. */
  get processed(): number {
    return this.#processed;
  }

  /**
   * Connects, declares the queues and starts consuming; resolves once the worker is running,
   * or, when `shutdown()` or `abort()` came meanwhile, once it gave up starting (it never goes
   * on to running then). Once per worker: in any other state than `idle` it rejects with
   * `CELERIAC_ERR_INVALID_STATE` (`details.state`); create a new Worker to start again.
   */
  start(): Promise<void> {
    const state = this.#state;
    switch (state) {
      case 'idle':
        this.#state = 'starting';
        this.#starting = this.#start();
        return this.#starting;
      case 'starting':
      case 'running':
      case 'draining':
      case 'stopped':
        return Promise.reject(
          new CeleriacError(
            ErrorCodes.INVALID_STATE,
            `start(): the worker is ${state}; create a new Worker to start again`,
            { details: { state } },
          ),
        );
    }
  }

  async #start(): Promise<void> {
    try {
      // Threads or children first: an app module they cannot load fails start() before any message is taken.
      await this.#executor.pool?.start();
      const broker = (this.#broker = await this.app.broker());
      const backend = this.app.hasResultBackend ? await this.app.resultBackend() : undefined;
      this.#writer.attach(broker, backend);
      await this.#admission.start(broker, await this.app.coordination());
      // Listening first: a worker that takes tasks can be inspected.
      if (broker.control) {
        const { events, heartbeat, remoteControl } = this.#options;
        const source = { active: () => this.#running.size, processed: () => this.#processed };
        this.#monitor.start({ channel: broker.control, events, heartbeat, source });
        if (remoteControl) await this.#listen(broker.control);
      }
      if (this.#state !== 'starting') return; // stopped meanwhile: take no message
      await this.#intake.start(broker);
    } catch (err) {
      await this.#release();
      this.#state = 'stopped';
      this.#resolveStopped();
      throw err;
    }
    if (this.#state !== 'starting') return; // shutdown() or abort() closes what start opened
    this.#state = 'running';
    this.logger.info(
      {
        queues: this.queues,
        concurrency: this.concurrency,
        prefetch: this.prefetch,
        tasks: [...this.app.tasks.keys()],
      },
      `worker ${this.hostname} ready`,
    );
    // Deliveries that arrived while start() was still awaiting wait in #waiting: run them.
    this.#pump();
  }

  /** Watches each task's steps from inside the process (see `TaskObserver`); returns the unsubscribe. */
  observe(observer: TaskObserver): () => void {
    return this.#monitor.observers.add(observer);
  }

  async #listen(channel: ControlChannel): Promise<void> {
    const control = new WorkerControl({
      worker: this,
      options: this.#options,
      ...{ startedAt: this.#startedAt, waiting: this.#waiting, running: this.#running },
      ...{ totals: this.#totals, admission: this.#admission, executor: this.#executor },
      intake: this.#intake,
      broker: () => this.#broker,
      setConcurrency: (n) => {
        this.#concurrency = n;
        this.#pump();
      },
    });
    const events = this.#monitor.commands();
    this.#remoteControl = await listenForControl(channel, control, this.logger, events);
  }

  /**
   * Graceful: stops fetching, lets running tasks finish within `timeout` seconds (default
   * `shutdownTimeout`), and requeues everything not finished: waiting messages at once,
   * running ones when the timeout passes (their signal aborts). Idempotent: a second call
   * returns the first call's promise. An `abort()` meanwhile cuts the wait short.
   */
  shutdown(options: { timeout?: number } = {}): Promise<void> {
    this.#shuttingDown ??= this.#shutdown(
      options.timeout === undefined ? this.shutdownTimeoutMs : options.timeout * 1000,
    );
    return this.#shuttingDown;
  }

  /** `shutdown()` with its defaults (the same promise when a shutdown is under way). */
  close(): Promise<void> {
    return this.shutdown();
  }

  /**
   * Requeues at once, without waiting for running tasks (a second SIGTERM): their signal
   * aborts, pool members are killed, every timer and watch is stopped. Idempotent: a second
   * call returns the same promise; safe beside a `shutdown()` under way, which then resolves
   * as soon as the abort is done.
   */
  abort(): Promise<void> {
    this.#aborting ??= this.#abort();
    return this.#aborting;
  }

  async #shutdown(timeoutMs: number): Promise<void> {
    if (!(await this.#enterDraining())) return;
    this.logger.info(
      { running: this.#running.size, waiting: this.#waiting.length },
      'worker shutting down',
    );
    await this.#stopIntake();
    const running = this.#running.values().map((r) => r.done);
    const end =
      running.length > 0 ? await drain(running, timeoutMs, this.#abortRequested) : 'drained';
    if (end === 'aborted') {
      // abort() requeues what still runs: this shutdown is over once that is done, not before
      // (a caller that exits when shutdown() resolves must not cut the requeue short).
      await this.#aborting;
      return;
    }
    if (end === 'timeout') {
      const left = this.#running.values();
      this.logger.warn({ tasks: left.length }, 'shutdown timeout: requeueing tasks still running');
      const reason = new CeleriacError(ErrorCodes.CLOSED, 'worker shutdown timeout');
      await Promise.all(left.map((r) => this.#writer.abandon(r, reason)));
    }
    await this.#release(); // the pool kills what still runs there: it was requeued above
    this.#stopped();
  }

  async #abort(): Promise<void> {
    this.#requestAbort();
    if (!(await this.#enterDraining())) return;
    await this.#stopIntake();
    const reason = new CeleriacError(ErrorCodes.CLOSED, 'worker aborted');
    await Promise.all(this.#running.values().map((r) => this.#writer.abandon(r, reason)));
    await this.#release();
    this.#stopped();
  }

  /** Enters `draining`; false when there is nothing to stop (never started, or stopped). */
  async #enterDraining(): Promise<boolean> {
    switch (this.#state) {
      case 'idle':
        this.#state = 'stopped';
        this.#resolveStopped();
        return false;
      case 'stopped':
        return false;
      case 'starting':
      case 'running':
        this.#state = 'draining';
        break;
      case 'draining':
        break; // the other verb is under way: join its steps, each done once
    }
    // A start() under way goes on to its end (not to running): what it opened is closed next.
    await this.#starting?.catch(() => undefined);
    return this.#state === 'draining'; // a start() that failed has closed all and stopped
  }

  /** Stops taking messages: cancels the consumer, stops admission's timers, requeues what waits. */
  #stopIntake(): Promise<void> {
    this.#intakeStopped ??= (async () => {
      await this.#intake
        .cancel()
        .catch((err: unknown) => this.logger.warn({ err }, 'cancelling the consumer failed'));
      const back = [...this.#waiting.splice(0), ...this.#admission.stopTimers()];
      await Promise.all(back.map((d) => this.#writer.requeue(d)));
    })();
    return this.#intakeStopped;
  }

  /** Closes what start() opened besides the consumer: the pool, the revocation watch, remote control. */
  #release(): Promise<void> {
    this.#released ??= (async () => {
      await this.#executor.pool?.close();
      await this.#admission.stopWatch();
      await this.#remoteControl?.stop().catch(() => undefined);
      await this.#monitor.stop().catch(() => undefined);
    })();
    return this.#released;
  }

  #stopped(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#resolveStopped();
    this.logger.info({ processed: this.#processed }, 'worker stopped');
  }

  #onMessage(delivery: Delivery): void {
    if (this.#state === 'draining' || this.#state === 'stopped') {
      void this.#writer.requeue(delivery);
      return;
    }
    this.#waiting.push(delivery);
    this.#pump();
  }

  /** Gives free slots to approved messages first, then to deliveries in arrival order. */
  #pump(): void {
    while (this.#running.size < this.#concurrency && this.#state === 'running') {
      const approved = this.#admission.nextReady();
      const delivery = approved?.delivery ?? this.#waiting.shift();
      if (!delivery) break;
      const entry = inFlight(delivery);
      this.#running.add(entry);
      (entry as { done: Promise<void> }).done = this.#drive(entry, approved);
    }
  }

  /** One message from a free slot to its end; never rejects. */
  async #drive(entry: InFlight, approved?: Approved): Promise<void> {
    try {
      if (approved) {
        const { task, msg } = approved;
        await this.#admission.readmit(entry, task, msg, taskLogger(this.logger, msg));
      } else await this.#admission.receive(entry);
    } catch (err) {
      this.logger.error({ err }, 'unexpected error while handling a message');
    } finally {
      this.#running.delete(entry);
      if (!entry.parked) this.#processed++;
      this.#pump();
    }
  }

  /** Runs an admitted message and settles it by its outcome. */
  async #run(entry: InFlight, task: RegisteredTask, msg: TaskMessage, log: Logger): Promise<void> {
    if (entry.abandoned) return; // requeued by an abort while it was being admitted
    const { headers } = msg;
    const opts = task.options;
    const ignoreResult = headers.ignore_result || opts.ignoreResult === true;
    if (opts.acksLate === false) {
      // At-most-once: the message is gone before the task starts; a crash now loses it.
      await this.#writer.ack(entry.delivery);
      entry.acked = true;
    }
    const ctx = new RunContext(this.#contextHost, msg, entry, log);
    if (opts.trackStarted && !ignoreResult) {
      const meta = { pid: process.pid, hostname: this.hostname };
      await this.#writer.store(msg, 'STARTED', meta, null, log);
    }
    const started = performance.now();
    entry.taskId = headers.id;
    entry.msg = msg;
    entry.startedAt = Date.now();
    this.#totals.set(task.name, (this.#totals.get(task.name) ?? 0) + 1);
    const outcome = await this.#executor.execute(ctx, task, msg, entry);
    entry.execution = undefined;
    if (entry.abandoned) return; // shutdown requeued it; its outcome is not recorded
    await this.#writer.record(entry, task, msg, outcome, ignoreResult, log, started);
  }
}
