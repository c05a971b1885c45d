/**
 * Every Redis key the result backend reads or writes is named here, so the layout Celery's
 * `BaseKeyValueStoreBackend` uses (and that Python clients read) is spelled out in one place.
 * A task's key is also the pub/sub channel its document is published on.
 */

/** Celery's `task_keyprefix`. */
export const CELERY_TASK_KEY_PREFIX = 'celery-task-meta-';

/** Builds the result keys for one key prefix. */
export class ResultKeys {
  constructor(readonly prefix: string = CELERY_TASK_KEY_PREFIX) {}

  /** `celery-task-meta-<id>`: the document's key and the channel it is published on. */
  task(taskId: string): string {
    return `${this.prefix}${taskId}`;
  }
}
