import { isReadyState, type Clock, type ResultDocument } from '@celeriac/core';

interface Entry {
  readonly doc: ResultDocument;
  readonly expiresAt: number;
}

/**
 * What the reply queue brought, kept in memory: up to `limit` results (the oldest go first),
 * each until its expiration. A live SUCCESS is final: a later state for the task is ignored.
 * Documents are copied out, so no reader sees another's mutation.
 */
export class ResultCache {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly limit: number,
    private readonly defaultTtlMs: number,
    private readonly clock: Clock,
  ) {}

  get(taskId: string): ResultDocument | null {
    const e = this.#entries.get(taskId);
    if (!e) return null;
    if (e.expiresAt <= this.clock.now()) {
      this.#entries.delete(taskId);
      return null;
    }
    return structuredClone(e.doc);
  }

  /** The task's result once it is in a ready state (SUCCESS, FAILURE, REVOKED…). */
  ready(taskId: string): ResultDocument | undefined {
    const doc = this.get(taskId);
    return doc && isReadyState(doc.status) ? doc : undefined;
  }

  /** Keeps `doc` for `ttlMs` (when > 0, else the default); false when a final one is kept. */
  put(taskId: string, doc: ResultDocument, ttlMs: number): boolean {
    const now = this.clock.now();
    const prev = this.#entries.get(taskId);
    if (prev && prev.doc.status === 'SUCCESS' && prev.expiresAt > now) return false; // final
    this.#entries.delete(taskId); // re-inserted last: the map's order is the eviction order
    this.#entries.set(taskId, { doc, expiresAt: now + (ttlMs > 0 ? ttlMs : this.defaultTtlMs) });
    while (this.#entries.size > this.limit) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    return true;
  }

  delete(taskId: string): void {
    this.#entries.delete(taskId);
  }
}

/**
 * The task id and result document of a reply-queue message (the body's `task_id`, as Celery's
 * result consumer reads it; the correlation id otherwise), with Celery's optional fields
 * filled in. Throws for a body that is not a result document; undefined when no task is named.
 */
export function resultOfReply(
  decoded: unknown,
  correlationId: unknown,
): { taskId: string; doc: ResultDocument } | undefined {
  if (
    typeof decoded !== 'object' ||
    decoded === null ||
    typeof (decoded as { status?: unknown }).status !== 'string'
  ) {
    throw new Error('not a result document');
  }
  const doc = decoded as ResultDocument;
  const bodyId: unknown = doc.task_id;
  const taskId =
    typeof bodyId === 'string' && bodyId !== ''
      ? bodyId
      : typeof correlationId === 'string' && correlationId !== ''
        ? correlationId
        : undefined;
  if (taskId === undefined) return undefined;
  return {
    taskId,
    doc: {
      ...doc,
      result: doc.result ?? null,
      traceback: doc.traceback ?? null,
      children: doc.children ?? [],
      date_done: doc.date_done ?? null,
      task_id: doc.task_id ?? taskId,
    },
  };
}
