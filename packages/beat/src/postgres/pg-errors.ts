import { CeleriacError, ErrorCodes } from '@celeriac/core';

/** What to do about a failure, by the error's code (a SQLSTATE or a Node socket code). */
const HINTS: Readonly<Record<string, string>> = {
  ECONNREFUSED:
    'nothing accepts connections there: check the host and port, and that PostgreSQL runs',
  ENOTFOUND: 'the host name does not resolve: check the URL',
  EAI_AGAIN: 'the host name does not resolve: check the URL and DNS',
  ETIMEDOUT: 'the connection timed out: check the host, the port and the network',
  ECONNRESET: 'the server dropped the connection: check the server log',
  '28P01': 'the password was refused: check the user and password in the URL',
  '28000': 'the server refused this user: check pg_hba.conf and the user in the URL',
  '3D000': 'the database does not exist: create it (createdb) or fix the URL',
  '42501':
    'permission denied: grant the user CREATE on the schema (or create the tables once as an owner), and SELECT, INSERT, UPDATE, DELETE on them',
  '57P01':
    'the server is shutting down or the connection was terminated: it is retried at the next call',
  '53300': 'the server has too many connections: lower poolSize or raise max_connections',
};

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True for an error worth retrying the whole transaction for (serialization failure, deadlock). */
export function isRetryable(err: unknown): boolean {
  const code = codeOf(err);
  return code === '40001' || code === '40P01';
}

/**
 * A pg (or socket) error as the `CeleriacError` the store rejects with: code
 * `CELERIAC_ERR_BROKER_UNAVAILABLE`, as the other stores' connection failures, with the URL (its
 * password redacted), what was being done and a hint by SQLSTATE in the message, and the
 * SQLSTATE in `details.sqlState`.
 */
export function pgError(url: string, what: string, err: unknown): CeleriacError {
  if (err instanceof CeleriacError) return err;
  const code = codeOf(err);
  const message = err instanceof Error ? err.message || err.name : String(err);
  const timedOut = /timeout/i.test(message) ? HINTS['ETIMEDOUT'] : undefined;
  const hint = (code === undefined ? undefined : HINTS[code]) ?? timedOut;
  return new CeleriacError(
    ErrorCodes.BROKER_UNAVAILABLE,
    `beat schedule store at ${url}: ${what} failed: ${message}${hint ? ` (${hint})` : ''}`,
    { cause: err, details: { url, ...(code === undefined ? {} : { sqlState: code }) } },
  );
}
