/**
 * Every error Celeriac raises is a `CeleriacError` with a stable string `code`.
 * Check identity with `isCeleriacError(err, 'CELERIAC_ERR_UNKNOWN_TASK')` rather than
 * `instanceof` alone: two copies of the package in one tree would break `instanceof`,
 * a code never does. The table of codes with their meaning and fix is `docs/errors.md`.
 */
export const ErrorCodes = {
  /** A message could not be decoded or violates protocol v2; the message names the field. */
  MALFORMED_MESSAGE: 'CELERIAC_ERR_MALFORMED_MESSAGE',
  /** The message names a task that this worker has not registered. */
  UNKNOWN_TASK: 'CELERIAC_ERR_UNKNOWN_TASK',
  /** A content type with no registered serializer. */
  UNSUPPORTED_CONTENT_TYPE: 'CELERIAC_ERR_UNSUPPORTED_CONTENT_TYPE',
  /** A value cannot be serialized with the chosen serializer. */
  SERIALIZATION: 'CELERIAC_ERR_SERIALIZATION',
  /** An option passed to a Celeriac API is invalid; the message names it. */
  INVALID_OPTION: 'CELERIAC_ERR_INVALID_OPTION',
  /** A broker or result-backend URL with a scheme Celeriac does not know. */
  UNSUPPORTED_URL: 'CELERIAC_ERR_UNSUPPORTED_URL',
  /**
   * A URL of a known scheme that cannot be used as written: a Redis Sentinel URL without a
   * master name, a bad port or database, an unknown query parameter. The message says what to
   * write instead; `details.url` is the URL redacted.
   */
  INVALID_URL: 'CELERIAC_ERR_INVALID_URL',
  /**
   * A write (a publish, a stored result) ran on the Redis master, but fewer replicas than
   * `waitReplicas` confirmed it within `waitTimeoutMs`, so a failover now could lose it.
   * `details` has `replicas` (how many did) and `waitReplicas`.
   */
  NOT_REPLICATED: 'CELERIAC_ERR_NOT_REPLICATED',
  /** The broker cannot be reached or dropped the connection. */
  BROKER_UNAVAILABLE: 'CELERIAC_ERR_BROKER_UNAVAILABLE',
  /** The result backend cannot be reached or dropped the connection. */
  BACKEND_UNAVAILABLE: 'CELERIAC_ERR_BACKEND_UNAVAILABLE',
  /** An optional driver package (ioredis, amqplib, better-sqlite3) is not installed. */
  MISSING_DRIVER: 'CELERIAC_ERR_MISSING_DRIVER',
  /** `AsyncResult.get()` waited longer than its timeout. */
  TIMEOUT: 'CELERIAC_ERR_TIMEOUT',
  /** An operation on a broker, backend, app or worker that was already closed. */
  CLOSED: 'CELERIAC_ERR_CLOSED',
  /**
   * A lifecycle call that the object's state does not allow: `start()` on a worker or beat
   * that is already running or shutting down, a second `start()` under way. `details.state`
   * names the state it was in.
   */
  INVALID_STATE: 'CELERIAC_ERR_INVALID_STATE',
  /** The task ran and failed; see `TaskError` for the remote type and message. */
  TASK_FAILED: 'CELERIAC_ERR_TASK_FAILED',
  /** A result was requested but the app has no result backend (or the task ignores results). */
  NO_RESULT_BACKEND: 'CELERIAC_ERR_NO_RESULT_BACKEND',
  /** A task with this name is already registered with a different function. */
  DUPLICATE_TASK: 'CELERIAC_ERR_DUPLICATE_TASK',
  /** Publishing a message failed; the cause says why. */
  PUBLISH_FAILED: 'CELERIAC_ERR_PUBLISH_FAILED',
  /** A beat schedule or entry is invalid; the message and `details` name the field and the value. */
  INVALID_SCHEDULE: 'CELERIAC_ERR_INVALID_SCHEDULE',
  /**
   * RabbitMQ holds the queue with another type (classic, quorum) than this side declares it
   * with: two clients of one queue disagree. `details` names the queue and both types.
   */
  QUEUE_MISMATCH: 'CELERIAC_ERR_QUEUE_MISMATCH',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface CeleriacErrorOptions {
  cause?: unknown;
  /** Structured facts about the failure (the field, the value, the queue). */
  details?: Record<string, unknown>;
}

export class CeleriacError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: CeleriacErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CeleriacError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** True when `err` is a Celeriac error, and when `code` is given, one with that code. */
export function isCeleriacError(err: unknown, code?: ErrorCode): err is CeleriacError {
  if (typeof err !== 'object' || err === null) return false;
  const c = (err as { code?: unknown }).code;
  if (typeof c !== 'string' || !c.startsWith('CELERIAC_ERR_')) return false;
  return code === undefined || c === code;
}
