import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** A user name and password the dashboard asks for (HTTP basic auth). */
export interface BasicAuth {
  readonly user: string;
  readonly password: string;
}

/** `user:pass` → {@link BasicAuth} (the password may contain colons); null when malformed. */
export function parseBasicAuth(spec: string): BasicAuth | null {
  const i = spec.indexOf(':');
  if (i <= 0 || i === spec.length - 1) return null;
  return { user: spec.slice(0, i), password: spec.slice(i + 1) };
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Whether the request carries these credentials. Compared as fixed-length digests in constant
 * time, so neither the length nor a prefix of the password leaks through response times.
 */
export function isAuthorized(req: IncomingMessage, auth: BasicAuth): boolean {
  const header = req.headers.authorization ?? '';
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m?.[1]) return false;
  const given = Buffer.from(m[1], 'base64').toString('utf8');
  const expected = `${auth.user}:${auth.password}`;
  return timingSafeEqual(digest(given), digest(expected));
}
