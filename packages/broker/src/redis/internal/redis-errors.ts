import { CeleriacError, ErrorCodes, isCeleriacError } from '@celeriac/core';
import { redactUrl } from '@celeriac/core/internal';

/**
 * ioredis failures that mean the server could not be reached, as opposed to a command's
 * error: the union of what the broker and the result backend each used to list. Error codes
 * by prefix (`ECONN` covers ECONNREFUSED, ECONNRESET and ECONNABORTED), then the messages
 * ioredis raises without a code: a command on a closed connection, a retry budget spent, a
 * write to a dead stream, a connect timeout, a socket closed mid-reply.
 */
const CONNECTION_CODE = /^(ECONN|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EPIPE|EAI_AGAIN)/;
const CONNECTION_MESSAGES = [
  'connection is closed',
  'max retries per request',
  "stream isn't writeable",
  'connect etimedout',
  'socket closed unexpectedly',
];

/** True for errors that mean the server could not be reached, as opposed to a command's error. */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODE.test(code)) return true;
  const msg = err.message.toLowerCase();
  return CONNECTION_MESSAGES.some((m) => msg.includes(m));
}

/** The Celeriac component a Redis connection serves: it picks the error code and the advice. */
export type RedisRole = 'broker' | 'result backend';

/** What a failure happened to: the URL (redacted here) and, when known, the operation. */
export interface RedisFailure {
  readonly url: string;
  /** Named in the message and the details, as `store (EVALSHA store-many)`. */
  readonly operation?: string;
  /** The connection's last `error` event, when it says more than the failure itself. */
  readonly lastError?: Error | undefined;
}

const ROLES = {
  broker: {
    code: ErrorCodes.BROKER_UNAVAILABLE,
    advice:
      '. Check that Redis is running and reachable from here, and that the broker URL ' +
      '(host, port, password, database number) is right.',
  },
  'result backend': {
    code: ErrorCodes.BACKEND_UNAVAILABLE,
    advice:
      "; check that redis-server is running there and that the URL's host, port, database and password are right",
  },
} as const;

function detailsOf(url: string, operation: string | undefined): Record<string, unknown> {
  return operation === undefined ? { url } : { url, operation };
}

/**
 * `CELERIAC_ERR_BROKER_UNAVAILABLE` (the broker, coordination) or
 * `CELERIAC_ERR_BACKEND_UNAVAILABLE` (the result backend): the Redis server at the URL could
 * not be reached, with what to check.
 */
export function redisUnavailable(
  role: RedisRole,
  cause: unknown,
  failure: RedisFailure,
): CeleriacError {
  const { operation, lastError } = failure;
  const url = redactUrl(failure.url);
  const text = (cause as Error | undefined)?.message ?? String(cause);
  const last =
    lastError && lastError !== cause ? `; last connection error: ${lastError.message}` : '';
  const reason = `${operation === undefined ? '' : `${operation}: `}${text}${last}`;
  const { code, advice } = ROLES[role];
  return new CeleriacError(code, `cannot reach the Redis ${role} at ${url} (${reason})${advice}`, {
    cause,
    details: detailsOf(url, operation),
  });
}

/**
 * Translates an ioredis failure at the edge: Celeriac errors pass through, connection
 * failures become {@link redisUnavailable}. A command's own error (WRONGTYPE, OOM) stays as it
 * is for the broker, whose callers tell it apart by code; the result backend's contract wants
 * `CELERIAC_ERR_BACKEND_UNAVAILABLE` for it too, naming the refused operation.
 */
export function toRedisError(role: RedisRole, err: unknown, failure: RedisFailure): Error {
  if (isCeleriacError(err)) return err;
  if (isConnectionError(err)) return redisUnavailable(role, err, failure);
  const e = err instanceof Error ? err : new Error(String(err));
  if (role === 'broker') return e;
  const url = redactUrl(failure.url);
  return new CeleriacError(
    ROLES[role].code,
    `the Redis ${role} at ${url} refused ${failure.operation ?? 'a command'}: ${e.message}`,
    { cause: err, details: detailsOf(url, failure.operation) },
  );
}
