import { randomUUID } from 'node:crypto';
import type { Celeriac, RegisteredTask, TaskContext } from '@celeriac/client';
import { isSignatureJSON, normalizeSignature, type SignatureJSON } from '@celeriac/core';
import { replaceChildren } from '../children.js';
import { CHORD_RETRY_INTERVAL_SECONDS, celeryGroup, chordUnlock } from './chord-unlock.js';

/** Celery's NotRegistered, as a task error Python reads back as `celery.exceptions.NotRegistered`. */
class NotRegistered extends Error {
  constructor(name: string) {
    super(name);
    this.name = 'NotRegistered';
  }
}

/** A task argument Celery sends malformed: a TypeError, as Python's own call would raise. */
function typeError(message: string): Error {
  const err = new Error(message);
  err.name = 'TypeError';
  return err;
}

/** `kwargs.task` as a signature, and the registered task it names (Celery's `signature(task).type`). */
function namedTask(
  app: Celeriac,
  kwargs: Record<string, unknown>,
): [SignatureJSON, RegisteredTask] {
  const sig = kwargs['task'];
  const name = typeof sig === 'string' ? sig : isSignatureJSON(sig) ? sig.task : undefined;
  if (name === undefined) throw typeError('the built-in task needs "task", a signature');
  const task = app.tasks.get(name);
  if (!task) throw new NotRegistered(name);
  return [
    normalizeSignature(typeof sig === 'string' ? { task: sig } : (sig as SignatureJSON)),
    task,
  ];
}

function items(kwargs: Record<string, unknown>): unknown[] {
  const it = kwargs['it'];
  if (!Array.isArray(it)) throw typeError('the built-in task needs "it", a list');
  return it;
}

/** Calls the named task's function in this run, one item after the other, as Celery does. */
async function callEach(
  ctx: TaskContext,
  task: RegisteredTask,
  list: unknown[],
  argsOf: (item: unknown) => unknown[],
): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const item of list) out.push(await task.fn.apply(ctx, argsOf(item) as never[]));
  return out;
}

function queueOf(sig: SignatureJSON): string | undefined {
  const q = sig.options['queue'];
  return typeof q === 'string' ? q : undefined;
}

function starArgs(item: unknown): unknown[] {
  if (!Array.isArray(item)) throw typeError('celery.starmap needs a list of argument lists');
  return item;
}

/**
 * Celery's built-in tasks (celery/app/builtins.py) a Python client's canvas sends:
 * - `celery.map(task, it)`: `[task(item) for item in it]`;
 * - `celery.starmap(task, it)`: `[task(*item) for item in it]`;
 * - `celery.chunks(task, it, n)`: sends a group of `celery.starmap` tasks of `n` items each
 *   and returns the group's result as Celery's tuple `((group_id, None), [((id, None), None), …])`.
 * - `celery.chord_unlock` and `celery.group`: see chord-unlock.ts.
 * The named task must be registered in this app (else Celery's NotRegistered); map and
 * starmap call its function in this run, in order.
 */
export function builtinTasks(app: Celeriac): RegisteredTask[] {
  const xmap = async function (this: TaskContext): Promise<unknown[]> {
    const [, task] = namedTask(app, this.kwargs);
    return callEach(this, task, items(this.kwargs), (item) => [item]);
  };
  const xstarmap = async function (this: TaskContext): Promise<unknown[]> {
    const [, task] = namedTask(app, this.kwargs);
    return callEach(this, task, items(this.kwargs), starArgs);
  };
  const chunks = async function (this: TaskContext): Promise<unknown> {
    const [sig] = namedTask(app, this.kwargs);
    const list = items(this.kwargs);
    const n = this.kwargs['n'];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
      throw typeError('celery.chunks needs "n", a positive integer');
    const groupId = randomUUID();
    const parts: SignatureJSON[] = [];
    for (let i = 0; i < list.length; i += n) {
      parts.push(
        normalizeSignature({
          task: 'celery.starmap',
          kwargs: { task: sig, it: list.slice(i, i + n) },
          // Celery routes the parts by the named task (`route_name`).
          options: { queue: app.queueFor(sig.task, { queue: queueOf(sig) }) },
          immutable: true,
        }),
      );
    }
    const sent = parts.map((part, groupIndex) =>
      app.sendSignature(part, {
        parentId: this.id,
        rootId: this.rootId ?? this.id,
        groupId,
        groupIndex,
      }),
    );
    await Promise.all(sent.map((r) => r.published));
    const group = [[groupId, null], sent.map((r) => [[r.id, null], null])];
    replaceChildren(this.headers, [group]); // Celery records the group, not its parts
    return group;
  };
  const defaults = {};
  const unlock: RegisteredTask = {
    name: 'celery.chord_unlock',
    fn: chordUnlock(app),
    // Celery's: retried forever, every second unless told, and no result of its own.
    options: {
      maxRetries: null,
      defaultRetryDelay: CHORD_RETRY_INTERVAL_SECONDS,
      ignoreResult: true,
    },
  };
  const group: RegisteredTask = { name: 'celery.group', fn: celeryGroup(app), options: defaults };
  INLINE.add(unlock);
  INLINE.add(group);
  return [
    { name: 'celery.map', fn: xmap, options: defaults },
    { name: 'celery.starmap', fn: xstarmap, options: defaults },
    { name: 'celery.chunks', fn: chunks, options: defaults },
    unlock,
    group,
  ];
}

/** Built-ins that only read results and send tasks: they run in the worker, never in a pool. */
const INLINE = new WeakSet<RegisteredTask>();

/**
 * True for the built-ins a worker runs in its own event loop whatever its pool:
 * `celery.chord_unlock` and `celery.group` only wait on the result backend and the broker,
 * and need the worker's own connections (a memory backend is the worker's alone).
 */
export function runsInWorker(task: RegisteredTask): boolean {
  return INLINE.has(task);
}

/**
 * The tasks a worker runs: the app's, and Celery's built-ins under the names the app does
 * not define itself (looked up live, so a task defined later still wins). `app.tasks` stays
 * the app's own: what `registered` answers, as Celery's leaves out its `celery.*` tasks.
 */
export class TasksWithBuiltins extends Map<string, RegisteredTask> {
  readonly #app: Celeriac;

  constructor(app: Celeriac) {
    super(builtinTasks(app).map((t) => [t.name, t]));
    this.#app = app;
  }

  override get(name: string): RegisteredTask | undefined {
    return this.#app.tasks.get(name) ?? super.get(name);
  }

  override has(name: string): boolean {
    return this.#app.tasks.has(name) || super.has(name);
  }
}
