import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { redactUrl } from '@celeriac/core/internal';

/** The URL with its password hidden, for messages and logs. */
export const safeUrl = redactUrl;

/**
 * Whom an AMQP connection works for, which decides the code and wording of its errors: the
 * broker's fail with `CELERIAC_ERR_BROKER_UNAVAILABLE`, the rpc:// result backend's with
 * `CELERIAC_ERR_BACKEND_UNAVAILABLE`.
 */
export type AmqpRole = 'broker' | 'rpc-backend';

/** The class a role's errors name (`AmqpBroker: consume after close()`). */
export function roleOwner(role: AmqpRole): string {
  switch (role) {
    case 'broker':
      return 'AmqpBroker';
    case 'rpc-backend':
      return 'RpcResultBackend';
  }
}

/**
 * `CELERIAC_ERR_CLOSED` for `what` asked of a closed connection, or (`pending`) still waiting
 * for one when it was closed.
 */
export function amqpClosed(role: AmqpRole, what: string, pending: boolean): CeleriacError {
  // The rpc:// backend has always said just that it closed to a caller it left waiting.
  const message =
    pending && role === 'rpc-backend'
      ? 'RpcResultBackend closed'
      : `${roleOwner(role)}: ${what} after close()`;
  return new CeleriacError(ErrorCodes.CLOSED, message);
}

/**
 * RabbitMQ cannot be reached (or went away) for `what`: `CELERIAC_ERR_BROKER_UNAVAILABLE` for
 * the broker, `CELERIAC_ERR_BACKEND_UNAVAILABLE` for the rpc:// backend, naming the URL that
 * failed and what to check.
 */
export function amqpUnavailable(
  role: AmqpRole,
  url: string,
  cause: unknown,
  what?: string,
): CeleriacError {
  const reason =
    cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : 'no connection';
  const options = { cause, details: { url: safeUrl(url) } };
  switch (role) {
    case 'broker':
      return new CeleriacError(
        ErrorCodes.BROKER_UNAVAILABLE,
        `cannot reach the RabbitMQ broker at ${safeUrl(url)}${what ? ` for ${what}` : ''} (${reason}). ` +
          'Check that RabbitMQ is running and reachable from here, and that the broker URL ' +
          '(host, port, user, password, virtual host) is right.',
        options,
      );
    case 'rpc-backend':
      return new CeleriacError(
        ErrorCodes.BACKEND_UNAVAILABLE,
        `cannot reach RabbitMQ for the rpc:// result backend at ${safeUrl(url)}${what ? ` (${what})` : ''}: ${reason}. ` +
          'Check that RabbitMQ is running and reachable from here, and that the URL ' +
          '(host, port, user, password, virtual host) is right.',
        options,
      );
  }
}

/** `CELERIAC_ERR_BROKER_UNAVAILABLE` naming the URL that failed and what to check. */
export function brokerUnavailable(url: string, cause: unknown, what?: string): CeleriacError {
  return amqpUnavailable('broker', url, cause, what);
}

/** `CELERIAC_ERR_BACKEND_UNAVAILABLE` naming the URL that failed and what to check. */
export function backendUnavailable(url: string, cause: unknown, what?: string): CeleriacError {
  return amqpUnavailable('rpc-backend', url, cause, what);
}

/**
 * RabbitMQ answered an operation with a channel error (403 access refused, 406 precondition
 * failed…): it is reachable, but will not do this. Reported as `CELERIAC_ERR_BROKER_UNAVAILABLE`
 * with RabbitMQ's own words and the AMQP code in `details.amqpCode`.
 */
export function brokerRefused(url: string, cause: unknown, what: string): CeleriacError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new CeleriacError(
    ErrorCodes.BROKER_UNAVAILABLE,
    `the RabbitMQ broker at ${safeUrl(url)} refused ${what}: ${reason}. ` +
      "Check the user's permissions on the virtual host, and that every client declares the " +
      'queue with the same arguments.',
    { cause, details: { url: safeUrl(url), amqpCode: channelErrorCode(cause) ?? null } },
  );
}

/**
 * RabbitMQ refused to declare `queue` as `wanted` (406 PRECONDITION_FAILED naming
 * `x-queue-type`) because it exists with another type: `CELERIAC_ERR_QUEUE_MISMATCH`, saying
 * how to make the sides agree. Using it as it is would silently give up what the type was chosen
 * for (a quorum queue's replication, a classic queue's priorities).
 */
export function queueTypeMismatch(queue: string, wanted: string, cause: unknown): CeleriacError {
  const text = cause instanceof Error ? cause.message : String(cause);
  // "received the value 'quorum' of type 'longstr' but current is none", or the reverse.
  const current = /but current is (?:the value '([^']+)'|none)/.exec(text);
  const existing = current === null ? 'another type' : (current[1] ?? 'classic');
  return new CeleriacError(
    ErrorCodes.QUEUE_MISMATCH,
    `RabbitMQ holds queue "${queue}" as a ${existing} queue, but this side declares it ${wanted}: ` +
      'every worker and client of a queue must declare it alike. Set the same queueType on every ' +
      "Celeriac side (and, for Celery, queue_arguments={'x-queue-type': 'quorum'} in task_queues), " +
      `or, to change its type, drain and delete the queue (rabbitmqctl delete_queue ${queue}) so the next declaration creates it anew.`,
    { cause, details: { queue, wanted, existing, amqpCode: 406 } },
  );
}

/**
 * The AMQP reply code of a channel-level error RabbitMQ raised for one operation (403 access
 * refused, 404 not found, 405 resource locked, 406 precondition failed), or undefined for
 * anything else, which means the connection or the channel went away.
 */
export function channelErrorCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 403 || code === 404 || code === 405 || code === 406 ? code : undefined;
}
