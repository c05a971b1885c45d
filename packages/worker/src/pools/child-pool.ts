import { SoftTimeLimitExceeded, TimeLimitExceeded } from '@celeriac/client';
import { CeleriacError, ErrorCodes, type Logger } from '@celeriac/core';
import type { AppModuleRef } from './app-module.js';
import {
  describeExit,
  ProcessChild,
  ThreadChild,
  type ChildExit,
  type PoolChild,
} from './pool-child.js';
import type { CompiledPoolOptions } from './pool-options.js';
import { outcomeOf, poolClosed, runMessage, type PoolOutcome, type PoolRun } from './pool-run.js';
import { rebuildThrown, serializeThrown, type ChildMessage } from './protocol.js';
import { WorkerLostError } from './worker-lost-error.js';

export interface ChildPoolDeps {
  /** Threads or children: the worker's concurrency. */
  readonly size: number;
  readonly logger: Logger;
  /** Makes a member; tests may inject their own. @default a ThreadChild or ProcessChild */
  readonly create?: (kind: CompiledPoolOptions['kind'], app: AppModuleRef) => PoolChild;
}

interface Job {
  readonly run: PoolRun;
  readonly resolve: (outcome: PoolOutcome) => void;
  /** Where it runs, once it does; the message sequence number there. */
  slot: Slot | undefined;
  seq: number;
  timer: NodeJS.Timeout | undefined;
  detach: () => void;
}

interface Slot {
  readonly child: PoolChild;
  state: 'starting' | 'idle' | 'busy' | 'leaving';
  tasks: number;
  job: Job | undefined;
  /** Settles the start-up wait: ready, or why it never will be. */
  started: (err?: Error) => void;
  readonly exited: Promise<void>;
}

/** A replacement that failed to start is tried again after this long, not in a tight loop. */
const RESPAWN_DELAY_MS = 1000;
/** How long a thread or child may take to exit after `exit` before it is killed. */
const EXIT_GRACE_MS = 2000;

/**
 * The `threads` and `process` pools: `size` threads or children, each running one task at a
 * time. A member that runs past the hard time limit is killed and replaced; one that dies
 * under a task reports `workerLost`; one that ran `maxTasksPerChild` tasks or grew past
 * `maxMemoryPerChild` is retired and replaced. The worker's own event loop only relays
 * messages, so broker heartbeats and visibility refreshes go on while a task burns CPU.
 */
export class ChildPool {
  readonly kind: CompiledPoolOptions['kind'];
  #size: number;
  readonly #options: CompiledPoolOptions;
  readonly #logger: Logger;
  readonly #create: (kind: CompiledPoolOptions['kind'], app: AppModuleRef) => PoolChild;
  /** Members that count towards `size`: starting, idle or busy. */
  readonly #slots = new Set<Slot>();
  /** Every member not yet exited, leaving ones included: what `close()` waits for. */
  readonly #alive = new Set<Slot>();
  readonly #idle: Slot[] = [];
  readonly #waiting: Job[] = [];
  readonly #respawns = new Set<NodeJS.Timeout>();
  #state: 'idle' | 'running' | 'closed' = 'idle';
  #seq = 0;
  #closing: Promise<void> | undefined;

  constructor(options: CompiledPoolOptions, deps: ChildPoolDeps) {
    this.#options = options;
    this.kind = options.kind;
    this.#size = deps.size;
    this.#logger = deps.logger;
    this.#create =
      deps.create ??
      ((kind, app) => (kind === 'threads' ? new ThreadChild(app) : new ProcessChild(app)));
  }

  /** Starts every member and waits until each has loaded the app; rejects if one cannot. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') return;
    this.#state = 'running';
    try {
      await Promise.all(Array.from({ length: this.#size }, () => this.#spawn()));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Members the pool keeps (Celery's `max-concurrency`); `resize()` changes it. */
  get size(): number {
    return this.#size;
  }

  /** The thread ids or pids of the members now in the pool. */
  members(): (number | string)[] {
    return [...this.#slots].map((s) => s.child.id);
  }

  /** Grows or shrinks to `size` members (`pool_grow`): a shrink never cuts a task short. */
  resize(size: number): void {
    this.#size = size;
    if (this.#state !== 'running') return;
    for (let n = size - this.#slots.size; n > 0; n--) this.#replace();
    // Idle members leave now; busy ones over the size when their task is done (see 'done').
    while (this.#slots.size > size && this.#idle.length > 0) this.#leave(this.#idle.pop()!);
  }

  /** Runs a task on the next free member. */
  run(run: PoolRun): Promise<PoolOutcome> {
    if (this.#state === 'closed') return Promise.resolve(poolClosed(null));
    return new Promise<PoolOutcome>((resolve) => {
      const signal = run.ctx.signal;
      const job: Job = {
        run,
        resolve,
        slot: undefined,
        seq: 0,
        timer: undefined,
        detach: () => undefined,
      };
      const onAbort = (): void => this.#onAbort(job);
      const onKill = (): void => {
        const reason: unknown = run.kill?.reason;
        this.#stop(
          job,
          { kind: 'threw', error: reason },
          reason instanceof Error ? reason.message : 'killed',
        );
      };
      signal.addEventListener('abort', onAbort, { once: true });
      run.kill?.addEventListener('abort', onKill, { once: true });
      job.detach = () => {
        signal.removeEventListener('abort', onAbort);
        run.kill?.removeEventListener('abort', onKill);
      };
      this.#waiting.push(job);
      this.#dispatch();
    });
  }

  /** Kills busy members, lets idle ones exit, and waits until none is left. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    for (const t of this.#respawns) clearTimeout(t);
    this.#respawns.clear();
    for (const job of this.#waiting.splice(0)) {
      job.detach();
      job.resolve(poolClosed(null));
    }
    for (const slot of [...this.#slots]) {
      // A member still loading the app may not hear `exit` yet: it goes the short way too.
      if (slot.job || slot.state === 'starting') this.#kill(slot)?.resolve(poolClosed('SIGKILL'));
      else this.#leave(slot);
    }
    await Promise.all([...this.#alive].map((s) => s.exited));
  }

  /** Starts a member; resolves once it loaded the app. */
  #spawn(): Promise<void> {
    let started!: (err?: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      started = (err) => (err ? reject(err) : resolve());
    });
    let child: PoolChild;
    try {
      child = this.#create(this.kind, this.#options.appModule);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    let exited!: () => void;
    const slot: Slot = {
      child,
      state: 'starting',
      tasks: 0,
      job: undefined,
      started,
      exited: new Promise<void>((resolve) => (exited = resolve)),
    };
    this.#slots.add(slot);
    this.#alive.add(slot);
    child.onMessage((m) => this.#onMessage(slot, m));
    child.onExit((exit) => {
      this.#onExit(slot, exit);
      exited();
    });
    return ready;
  }

  /** Keeps the pool at `size` after a member left; a member that failed to start is retried later. */
  #replace(delayMs = 0): void {
    if (this.#state !== 'running' || this.#slots.size >= this.#size) return;
    const spawn = (): void => {
      if (this.#state !== 'running' || this.#slots.size >= this.#size) return; // shrank meanwhile
      this.#spawn().catch((err: unknown) =>
        this.#logger.error({ err }, `a ${this.#noun()} could not start; trying again`),
      );
    };
    if (delayMs === 0) {
      spawn();
      return;
    }
    const t = setTimeout(() => {
      this.#respawns.delete(t);
      spawn();
    }, delayMs);
    this.#respawns.add(t);
  }

  #noun(): string {
    return this.kind === 'threads' ? 'pool thread' : 'pool child process';
  }

  #dispatch(): void {
    while (this.#waiting.length > 0) {
      const slot = this.#idle.pop();
      if (!slot) return;
      const job = this.#waiting.shift();
      if (job) this.#assign(slot, job);
    }
  }

  #assign(slot: Slot, job: Job): void {
    const { ctx, hard } = job.run;
    const seq = ++this.#seq;
    try {
      slot.child.send(runMessage(ctx, seq));
    } catch (error) {
      this.#idle.push(slot);
      job.detach();
      job.resolve({ kind: 'threw', error });
      return;
    }
    slot.state = 'busy';
    slot.job = job;
    job.slot = slot;
    job.seq = seq;
    if (ctx.signal.aborted) this.#onAbort(job); // the soft limit passed while it waited for a member
    if (hard !== null && hard > 0) {
      job.timer = setTimeout(
        () => this.#stop(job, { kind: 'timeLimit', seconds: hard }, `hard time limit (${hard}s)`),
        hard * 1000,
      );
    }
  }

  /** The worker's signal: relay a soft limit; on anything else, stop the run. */
  #onAbort(job: Job): void {
    const reason: unknown = job.run.ctx.signal.reason;
    if (reason instanceof SoftTimeLimitExceeded) {
      job.slot?.child.send({ type: 'abort', seq: job.seq, reason: serializeThrown(reason) });
      return;
    }
    const outcome: PoolOutcome =
      reason instanceof TimeLimitExceeded
        ? { kind: 'timeLimit', seconds: Number(reason.excArgs[0]) }
        : { kind: 'threw', error: reason };
    this.#stop(job, outcome, reason instanceof Error ? reason.message : String(reason));
  }

  /** Ends a run the worker gave up on: a waiting one leaves the queue, a running one's member is killed and replaced. */
  #stop(job: Job, outcome: PoolOutcome, why: string): void {
    const slot = job.slot;
    if (!slot) {
      const i = this.#waiting.indexOf(job);
      if (i === -1) return;
      this.#waiting.splice(i, 1);
      job.detach();
      job.resolve(outcome);
      return;
    }
    if (slot.job !== job) return; // already over
    const { ctx } = job.run;
    this.#logger.warn(
      { task: ctx.name, taskId: ctx.id, [this.#idKey()]: slot.child.id },
      `${why}: killing the ${this.#noun()} running the task`,
    );
    this.#kill(slot);
    this.#replace();
    job.resolve(outcome);
  }

  #idKey(): string {
    return this.kind === 'threads' ? 'threadId' : 'pid';
  }

  /** Ends the slot's job (if any) in the pool's books and returns it. */
  #release(slot: Slot): Job | undefined {
    const job = slot.job;
    slot.job = undefined;
    if (job) {
      clearTimeout(job.timer);
      job.detach();
    }
    return job;
  }

  /** Takes a member out of the pool: it no longer counts towards `size`, nor takes tasks. */
  #remove(slot: Slot): boolean {
    slot.state = 'leaving';
    const i = this.#idle.indexOf(slot);
    if (i !== -1) this.#idle.splice(i, 1);
    return this.#slots.delete(slot);
  }

  /** Kills a member now and returns its job, released without an outcome: the caller gives one. */
  #kill(slot: Slot): Job | undefined {
    const job = this.#release(slot);
    this.#remove(slot);
    slot.child.kill();
    return job;
  }

  /** Asks an idle member to exit, and kills it if it takes too long. */
  #leave(slot: Slot): void {
    this.#remove(slot);
    slot.child.send({ type: 'exit' });
    const t = setTimeout(() => slot.child.kill(), EXIT_GRACE_MS);
    void slot.exited.then(() => clearTimeout(t));
  }

  #onMessage(slot: Slot, m: ChildMessage): void {
    switch (m.type) {
      case 'ready':
        slot.state = 'idle';
        slot.started();
        if (this.#state !== 'running' || !this.#slots.has(slot)) {
          this.#leave(slot);
          return;
        }
        this.#idle.push(slot);
        this.#dispatch();
        return;
      case 'loadFailed': {
        const cause = rebuildThrown(m.error);
        const message = cause instanceof Error ? cause.message : String(cause);
        slot.started(
          new CeleriacError(
            ErrorCodes.INVALID_OPTION,
            `appModule ${this.#options.appModule.spec} could not be loaded in a ${this.#noun()}: ${message}`,
            { cause, details: { option: 'appModule', value: this.#options.appModule.spec } },
          ),
        );
        slot.child.kill();
        return;
      }
      case 'state': {
        const job = slot.job?.seq === m.seq ? slot.job : undefined;
        if (!job) {
          slot.child.send({ type: 'stateDone', call: m.call, error: 'the task already finished' });
          return;
        }
        job.run.ctx.updateState(m.state, m.meta).then(
          () => slot.child.send({ type: 'stateDone', call: m.call, error: null }),
          (err: unknown) =>
            slot.child.send({
              type: 'stateDone',
              call: m.call,
              error: err instanceof Error ? err.message : String(err),
            }),
        );
        return;
      }
      case 'log': {
        const logger = slot.job?.seq === m.seq ? slot.job.run.ctx.logger : this.#logger;
        if (m.msg === undefined) logger[m.level](m.obj);
        else logger[m.level](m.obj, m.msg);
        return;
      }
      case 'done': {
        if (slot.job?.seq !== m.seq) return; // a late answer from a task already given up on
        const job = this.#release(slot);
        if (!job) return;
        slot.tasks++;
        const o = this.#options;
        const recycle =
          o.maxTasksPerChild !== null && slot.tasks >= o.maxTasksPerChild
            ? `it ran ${slot.tasks} tasks (maxTasksPerChild)`
            : o.maxMemoryPerChildKiB !== null && m.memoryKiB > o.maxMemoryPerChildKiB
              ? `it uses ${m.memoryKiB} KiB (maxMemoryPerChild ${o.maxMemoryPerChildKiB})`
              : undefined;
        if (this.#slots.size > this.#size) {
          this.#leave(slot); // the pool shrank while it ran
        } else if (recycle) {
          this.#logger.info(
            { [this.#idKey()]: slot.child.id },
            `replacing a ${this.#noun()}: ${recycle}`,
          );
          this.#leave(slot);
          this.#replace();
        } else {
          slot.state = 'idle';
          this.#idle.push(slot);
        }
        job.resolve(outcomeOf(m.outcome, job.run.options));
        this.#dispatch();
        return;
      }
    }
  }

  #onExit(slot: Slot, exit: ChildExit): void {
    this.#alive.delete(slot);
    const wasStarting = slot.state === 'starting';
    slot.started(
      new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `a ${this.#noun()} exited (${describeExit(exit)}) before it loaded appModule ${this.#options.appModule.spec}`,
        { details: { option: 'appModule', value: this.#options.appModule.spec } },
      ),
    );
    const counted = this.#remove(slot);
    const job = this.#release(slot);
    if (job) {
      const detail = exit.error ? `${exit.error.name}: ${exit.error.message}` : undefined;
      const error = new WorkerLostError({
        code: exit.code,
        signal: exit.signal,
        ...(detail ? { detail } : {}),
      });
      this.#logger.error(
        {
          task: job.run.ctx.name,
          taskId: job.run.ctx.id,
          [this.#idKey()]: slot.child.id,
          code: exit.code,
          signal: exit.signal,
        },
        `the ${this.#noun()} running the task died: ${error.message}`,
      );
      job.resolve({ kind: 'workerLost', error });
    } else if (counted && !wasStarting && this.#state === 'running') {
      this.#logger.warn(
        { [this.#idKey()]: slot.child.id, code: exit.code, signal: exit.signal },
        `an idle ${this.#noun()} exited; replacing it`,
      );
    }
    if (counted) this.#replace(wasStarting ? RESPAWN_DELAY_MS : 0);
  }
}
