/**
 * Stored as FAILURE when the pool thread or child process running a task died under it
 * (the task called `process.exit()`, ran out of memory, was killed from outside), unless the
 * task has `rejectOnWorkerLost` and acks late, in which case its message is requeued.
 * Celery's twin is `billiard.exceptions.WorkerLostError`, with the same message shape.
 */
export class WorkerLostError extends Error {
  readonly excModule = 'billiard.exceptions';

  constructor(exit: { code: number | null; signal: string | null; detail?: string }) {
    const how = exit.signal ? `signal ${exit.signal}` : `exitcode ${String(exit.code)}`;
    super(`Worker exited prematurely: ${how}.${exit.detail ? ` ${exit.detail}` : ''}`);
    this.name = 'WorkerLostError';
  }
}
