/**
 * Task states, spelled as Celery spells them on the wire. Custom states (for example
 * `PROGRESS`) are any other upper-case string.
 */
export const States = {
  PENDING: 'PENDING',
  RECEIVED: 'RECEIVED',
  STARTED: 'STARTED',
  SUCCESS: 'SUCCESS',
  FAILURE: 'FAILURE',
  REVOKED: 'REVOKED',
  REJECTED: 'REJECTED',
  RETRY: 'RETRY',
  IGNORED: 'IGNORED',
} as const;

export type BuiltinState = (typeof States)[keyof typeof States];
/** A built-in state or a custom one such as `'PROGRESS'`. */
export type TaskState = BuiltinState | (string & {});

/** States after which a task's result will not change: Celery's READY_STATES. */
export const READY_STATES: ReadonlySet<TaskState> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);
/** Ready states that carry an exception: Celery's EXCEPTION_STATES. */
export const EXCEPTION_STATES: ReadonlySet<TaskState> = new Set(['RETRY', 'FAILURE', 'REVOKED']);
/** States whose exception `get()` re-raises: Celery's PROPAGATE_STATES. */
export const PROPAGATE_STATES: ReadonlySet<TaskState> = new Set(['FAILURE', 'REVOKED']);
/** States not yet ready: Celery's UNREADY_STATES. */
export const UNREADY_STATES: ReadonlySet<TaskState> = new Set([
  'PENDING',
  'RECEIVED',
  'STARTED',
  'REJECTED',
  'RETRY',
]);

/**
 * Celery's state precedence: a lower index means further along. A custom state (such as
 * PROGRESS) ranks where Celery puts `None`: after FAILURE, before REVOKED.
 */
const PRECEDENCE: readonly (string | null)[] = [
  'SUCCESS',
  'FAILURE',
  null,
  'REVOKED',
  'STARTED',
  'RECEIVED',
  'REJECTED',
  'RETRY',
  'PENDING',
];

export function statePrecedence(state: TaskState): number {
  const i = PRECEDENCE.indexOf(state);
  return i === -1 ? PRECEDENCE.indexOf(null) : i;
}

export function isReadyState(state: TaskState): boolean {
  return READY_STATES.has(state);
}
