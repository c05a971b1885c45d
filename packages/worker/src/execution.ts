import {
  SoftTimeLimitExceeded,
  TimeLimitExceeded,
  type AsyncContextMode,
  type RegisteredTask,
  type TaskContext,
} from '@celeriac/client';
import { callTaskFunction } from '@celeriac/client/internal';
import { CeleriacError, ErrorCodes, type TaskMessage } from '@celeriac/core';
import { runsInWorker } from './builtins/index.js';
import type { InFlight } from './in-flight.js';
import type { Observers } from './observe.js';
import type { ChildPool } from './pools/child-pool.js';
import { bindLogger } from './run-context.js';
import { startConsumerSpan } from './tracing.js';
import type { PoolOutcome } from './pools/pool-run.js';

/** How a run ended: the pool's outcomes, or a revocation with terminate. */
export type Outcome = PoolOutcome | { readonly kind: 'revoked' };

/**
 * One run of a task function: settled once, by whichever comes first of the task, its hard
 * time limit, or a revocation with terminate. A class rather than closures made per run:
 * closures kept on the running entry held each finished task's whole graph (message,
 * context, promise chain) long enough to be promoted: 2.6 MB survived each scavenge instead
 * of 0.8 MB, and peak RSS was about 20 MB higher, on a 20,000-task drain (`bench/gc-drain.js`).
 */
export class Execution {
  readonly outcome: Promise<Outcome>;
  /** Kills a pool member running the task (threads and process pools). */
  readonly killer: AbortController | undefined;
  #resolve!: (outcome: Outcome) => void;
  #settled = false;
  #softTimer: NodeJS.Timeout | undefined;
  #hardTimer: NodeJS.Timeout | undefined;
  readonly #entry: InFlight;

  constructor(entry: InFlight, pooled: boolean, hard: number | null, soft: number | null) {
    this.#entry = entry;
    this.outcome = new Promise<Outcome>((resolve) => {
      this.#resolve = resolve;
    });
    this.killer = pooled ? new AbortController() : undefined;
    if (soft !== null && soft > 0) {
      this.#softTimer = setTimeout(
        () => entry.controller?.abort(new SoftTimeLimitExceeded(soft)),
        soft * 1000,
      );
    }
    if (hard !== null && hard > 0) {
      this.#hardTimer = setTimeout(() => {
        entry.controller?.abort(new TimeLimitExceeded(hard));
        this.finish({ kind: 'timeLimit', seconds: hard });
      }, hard * 1000);
    }
  }

  finish(outcome: Outcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#clearTimers();
    this.#resolve(outcome);
  }

  /**
   * The worker gave up on the run (requeued it at a shutdown timeout or an abort): its time
   * limits no longer matter, and their timers must not outlive the worker. The outcome still
   * settles when the task does; nobody records it.
   */
  abandon(): void {
    this.#clearTimers();
  }

  #clearTimers(): void {
    if (this.#softTimer) clearTimeout(this.#softTimer);
    if (this.#hardTimer) clearTimeout(this.#hardTimer);
    this.#softTimer = undefined;
    this.#hardTimer = undefined;
  }

  /** Settles with what an async task's promise settles with. */
  settleWith(value: PromiseLike<unknown>): void {
    value.then(
      (v) => this.finish({ kind: 'returned', value: v }),
      (error: unknown) => this.finish({ kind: 'threw', error }),
    );
  }

  /** Revoked with terminate: ends the run now; the task's signal aborts and a pool member dies. */
  terminate(): void {
    // Settle first: aborting makes the run settle too, and the revocation must win.
    this.finish({ kind: 'revoked' });
    const reason = new CeleriacError(ErrorCodes.CLOSED, 'task revoked with terminate');
    this.#entry.controller?.abort(reason);
    this.killer?.abort(reason); // a pool member dies even if a soft limit already used the signal
  }
}

/**
 * Runs task functions where the worker's pool runs them: in this event loop (async pool) or
 * on a pool thread or child, under their time limits. The soft limit aborts the task's
 * signal; the hard one ends the run (and, in a pool, kills its member). A time limit in the
 * message (a Python caller's `timelimit: [hard, soft]`) wins over the task's.
 */
export class Executor {
  /** The threads or process pool; undefined for the async pool. */
  readonly pool: ChildPool | undefined;
  readonly #asyncContext: AsyncContextMode;
  readonly #observers: Observers | undefined;
  /** Time limits set at run time (Celery's `time_limit` control), by task name. */
  readonly #limits = new Map<string, { soft: number | null; hard: number | null }>();
  /** The broker's kind, for the CONSUMER span's `messaging.system`. */
  readonly #brokerKind: () => string | undefined;

  constructor(
    pool: ChildPool | undefined,
    asyncContext: AsyncContextMode,
    observers?: Observers,
    brokerKind: () => string | undefined = () => undefined,
  ) {
    this.pool = pool;
    this.#asyncContext = asyncContext;
    this.#observers = observers;
    this.#brokerKind = brokerKind;
  }

  /** Replaces a task's time limits in seconds (`null`: none), for the runs that start from now. */
  setTimeLimits(taskName: string, limits: { soft: number | null; hard: number | null }): void {
    this.#limits.set(taskName, limits);
  }

  /** A task's time limits as they are now: set at run time, else its options. */
  timeLimits(task: RegisteredTask): { soft: number | null; hard: number | null } {
    return (
      this.#limits.get(task.name) ?? {
        soft: task.options.softTimeLimit ?? null,
        hard: task.options.timeLimit ?? null,
      }
    );
  }

  /** Starts the run; its outcome never rejects. `entry.execution` holds it meanwhile. */
  execute(
    ctx: TaskContext,
    task: RegisteredTask,
    msg: TaskMessage,
    entry: InFlight,
  ): Promise<Outcome> {
    this.#observers?.started(msg, entry.delivery.queue);
    const opts = task.options;
    const limits = this.#limits.size > 0 ? this.timeLimits(task) : undefined;
    const hard = msg.headers.timelimit[0] ?? (limits ? limits.hard : opts.timeLimit) ?? null;
    const soft = msg.headers.timelimit[1] ?? (limits ? limits.soft : opts.softTimeLimit) ?? null;
    const pool = this.pool && !runsInWorker(task) ? this.pool : undefined;
    const run = new Execution(entry, pool !== undefined, hard, soft);
    entry.execution = run;
    const span = startConsumerSpan(msg, entry.delivery.queue, this.#brokerKind());
    if (!span) return this.#start(run, ctx, task, msg, pool, hard);
    bindLogger(ctx.logger, span.ids);
    void run.outcome.then((outcome) => span.end(outcome));
    return span.run(() => this.#start(run, ctx, task, msg, pool, hard));
  }

  /** Runs the task function in the pool or here, inside the active context. */
  #start(
    run: Execution,
    ctx: TaskContext,
    task: RegisteredTask,
    msg: TaskMessage,
    pool: ChildPool | undefined,
    hard: number | null,
  ): Promise<Outcome> {
    const opts = task.options;
    // In the threads and process pools the task runs there; its limits and signal work alike.
    if (pool) {
      pool
        .run({
          ctx,
          options: opts,
          hard,
          ...(run.killer ? { kill: run.killer.signal } : {}),
        })
        .then(
          (outcome) => run.finish(outcome),
          (error: unknown) => run.finish({ kind: 'threw', error }),
        );
      return run.outcome;
    }
    let value: unknown;
    try {
      value = callTaskFunction(ctx, task.fn, msg.args, this.#asyncContext);
    } catch (error) {
      run.finish({ kind: 'threw', error });
      return run.outcome;
    }
    if (typeof (value as PromiseLike<unknown> | null)?.then === 'function') {
      run.settleWith(value as PromiseLike<unknown>);
    } else {
      run.finish({ kind: 'returned', value });
    }
    return run.outcome;
  }
}
