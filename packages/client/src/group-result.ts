import type { TaskError } from '@celeriac/core';
import { CeleriacError, ErrorCodes, READY_STATES, type ResultBackend } from '@celeriac/core';
import {
  AsyncResult,
  type GetOptions,
  type ResultSource,
  type RevokeTaskOptions,
} from './async-result.js';

async function backendWith<K extends 'saveGroup' | 'restoreGroup'>(
  source: ResultSource,
  method: K,
): Promise<ResultBackend & Required<Pick<ResultBackend, K>>> {
  const backend = await source.resultBackend();
  if (!backend[method]) {
    throw new CeleriacError(
      ErrorCodes.INVALID_STATE,
      `GroupResult: the ${backend.kind} result backend cannot ${method === 'saveGroup' ? 'save' : 'restore'} groups; use the Redis result backend (redis://)`,
      { details: { backend: backend.kind } },
    );
  }
  return backend as ResultBackend & Required<Pick<ResultBackend, K>>;
}

/**
 * The results of a group (Celery's `GroupResult`): `get()` waits for every task and returns
 * their values in group order. `save()` stores the group's ids where Celery's
 * `GroupResult.restore(id)` reads them (`celery-taskset-meta-<id>`), and back.
 */
export class GroupResult<T = unknown> {
  /** The result this group follows (Celery's `parent`): in a chain, the step before it. */
  parent: AsyncResult | GroupResult | undefined;

  constructor(
    readonly id: string,
    readonly results: readonly AsyncResult<T>[],
    readonly source: ResultSource,
  ) {}

  /** Resolves once every task was published. */
  get published(): Promise<void> {
    return Promise.all(this.results.map((r) => r.published)).then(() => undefined);
  }

  /**
   * Waits for every task; resolves with their values in group order. With `propagate` (the
   * default) rejects with the first failure met; `timeout` bounds the whole wait.
   */
  async get(options: GetOptions = {}): Promise<(T | TaskError)[]> {
    const deadline =
      options.timeout === undefined ? undefined : Date.now() + options.timeout * 1000;
    const values: (T | TaskError)[] = [];
    for (const r of this.results) {
      const timeout =
        deadline === undefined ? undefined : Math.max(0, (deadline - Date.now()) / 1000);
      values.push(
        await r.get({
          ...(timeout === undefined ? {} : { timeout }),
          ...(options.signal ? { signal: options.signal } : {}),
          propagate: (options.propagate ?? true) as false,
        }),
      );
    }
    return values;
  }

  async #states(): Promise<string[]> {
    await this.published;
    const docs = await (await this.source.resultBackend()).getMany(this.results.map((r) => r.id));
    return docs.map((d) => d?.status ?? 'PENDING');
  }

  /** True when every task is ready (SUCCESS, FAILURE or REVOKED). */
  async ready(): Promise<boolean> {
    return (await this.#states()).every((s) => READY_STATES.has(s as never));
  }

  async successful(): Promise<boolean> {
    return (await this.#states()).every((s) => s === 'SUCCESS');
  }

  async failed(): Promise<boolean> {
    return (await this.#states()).some((s) => s === 'FAILURE');
  }

  /** How many tasks succeeded (Celery's `completed_count()`). */
  async completedCount(): Promise<number> {
    return (await this.#states()).filter((s) => s === 'SUCCESS').length;
  }

  /** Revokes every task of the group. */
  async revoke(options: RevokeTaskOptions = {}): Promise<void> {
    if (!this.source.revokeTasks) {
      throw new CeleriacError(
        ErrorCodes.INVALID_STATE,
        'revoke(): this group is not attached to an app that can revoke',
        { details: { state: 'detached' } },
      );
    }
    await this.source.revokeTasks(
      this.results.map((r) => r.id),
      options,
    );
  }

  /** Stores the group's task ids (Celery's `GroupResult.save()`), readable from Python. */
  async save(): Promise<void> {
    const backend = await backendWith(this.source, 'saveGroup');
    await backend.saveGroup(
      this.id,
      this.results.map((r) => r.id),
    );
  }

  /** Reads a group saved by `save()` or by Python's `GroupResult.save()`; null when none is. */
  static async restore<T = unknown>(
    id: string,
    source: ResultSource,
  ): Promise<GroupResult<T> | null> {
    const backend = await backendWith(source, 'restoreGroup');
    const ids = await backend.restoreGroup(id);
    if (ids === null) return null;
    return new GroupResult<T>(
      id,
      ids.map((taskId) => new AsyncResult<T>(taskId, source)),
      source,
    );
  }

  toString(): string {
    return this.id;
  }
}
