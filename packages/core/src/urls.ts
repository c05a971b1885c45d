import { CeleriacError, ErrorCodes } from './errors.js';

/**
 * The URL with its password hidden, for messages and logs: the one redactor every package
 * uses, so a URL reads the same in every error. A password becomes `***`; a user is kept, being
 * no secret (`redis://bob:pw@h/0` → `redis://bob:***@h/0`, `redis://:pw@h/0` →
 * `redis://:***@h/0`, `redis://bob@h/0` unchanged). The credentials end at the authority's last
 * `@`, so a password holding an unescaped `@` is hidden whole. Text without `scheme://` is
 * returned as it is. A query parameter named `password` or `…_password` is hidden too, and each
 * URL of a `;`-joined Sentinel list (`sentinel://:pw@h1;sentinel://:pw@h2`) is redacted alike.
 * Idempotent: a redacted URL redacts to itself.
 */
export function redactUrl(url: string): string {
  // A Redis Sentinel URL lists its sentinels as `;`-joined URLs, each with its own credentials.
  const parts = url.split(/;(?=[a-z][a-z0-9+.-]*:\/\/)/i);
  const redacted = parts.length === 1 ? redactOne(url) : parts.map(redactOne).join(';');
  // ioredis and Sentinel URLs may carry a password in the query (`?password=`, `?sentinel_password=`).
  return redacted.replace(/([?&][a-z_]*password=)[^&;#]*/gi, (_, key: string) => `${key}***`);
}

function redactOne(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0];
  if (scheme === undefined) return url;
  const rest = url.slice(scheme.length);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const at = authority.lastIndexOf('@');
  if (at < 0) return url;
  const colon = authority.indexOf(':');
  if (colon < 0 || colon > at) return url;
  return `${scheme}${authority.slice(0, colon)}:***${rest.slice(at)}`;
}

/**
 * The schemes the Redis drivers take: `redis://` and `rediss://` (TLS) for one server,
 * `sentinel://` and `sentinels://` (TLS) for a master found through Redis Sentinel,
 * `redis+cluster://` and `rediss+cluster://` (TLS) for a Redis Cluster.
 */
export const REDIS_SCHEMES: readonly string[] = [
  'redis',
  'rediss',
  'sentinel',
  'sentinels',
  'redis+cluster',
  'rediss+cluster',
];

/** True when the URL's scheme is one of {@link REDIS_SCHEMES}. */
export function isRedisUrl(url: string): boolean {
  const scheme = urlScheme(url);
  return scheme !== undefined && REDIS_SCHEMES.includes(scheme);
}

/** The lower-cased scheme of a URL (`redis` for `redis://…`), or undefined. */
export function urlScheme(url: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
}

/**
 * Identity of an AMQP server and virtual host, `amqp://user@host:port/vhost`, for deciding
 * whether two URLs reach the same RabbitMQ (an AMQP delivery's `fusedAck()`). Loopback names collapse
 * into `127.0.0.1`, default ports are filled in, the password is left out. Undefined when the
 * URL is not amqp:// or amqps://. A cluster's `;`-joined list is the set of its nodes' targets
 * (sorted, so two lists of the same nodes in another order reach the same cluster).
 */
export function amqpTarget(url: string): string | undefined {
  if (url.includes(';')) {
    const targets = url.split(';').map((u) => amqpTargetOne(u.trim()));
    if (targets.some((t) => t === undefined)) return undefined;
    return [...new Set(targets as string[])].sort().join(';');
  }
  return amqpTargetOne(url);
}

function amqpTargetOne(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const scheme = u.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'amqp' && scheme !== 'amqps') return undefined;
  const loopback = ['localhost', '127.0.0.1', '[::1]', ''];
  const host = loopback.includes(u.hostname.toLowerCase()) ? '127.0.0.1' : u.hostname.toLowerCase();
  const port = u.port === '' ? (scheme === 'amqps' ? '5671' : '5672') : u.port;
  // amqplib: no path or "/" is the default vhost "/"; otherwise the path without its "/".
  const path =
    u.pathname === '' || u.pathname === '/' ? '/' : decodeURIComponent(u.pathname.slice(1));
  const user = decodeURIComponent(u.username === '' ? 'guest' : u.username);
  return `${scheme}://${encodeURIComponent(user)}@${host}:${port}/${encodeURIComponent(path)}`;
}

export interface LoadDriverOptions {
  /** The subpath module, e.g. `@celeriac/broker/redis`, for messages. */
  specifier: string;
  /** The constructor it must export. */
  exportName: string;
  /** The URL being served, for messages (redacted). */
  url: string;
  /** What the URL names: `broker`, `result backend`, `coordination`. */
  role: string;
}

/**
 * Loads a driver subpath only when its URL scheme is asked for, so an app that never uses
 * Redis or RabbitMQ never loads ioredis or amqplib. `load` is the caller's own dynamic
 * `import()`, so the module resolves from the caller's package. Translates failures into
 * `CELERIAC_ERR_MISSING_DRIVER` (with the npm command) or `CELERIAC_ERR_UNSUPPORTED_URL`.
 */
export async function loadDriver<T>(
  load: () => Promise<unknown>,
  o: LoadDriverOptions,
): Promise<T> {
  let mod: unknown;
  try {
    mod = await load();
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    const driver = /['"](ioredis|amqplib)['"]/.exec(text)?.[1];
    if (driver !== undefined) {
      throw new CeleriacError(
        ErrorCodes.MISSING_DRIVER,
        `${o.role} URL "${redactUrl(o.url)}" needs the ${driver} package: npm install ${driver}`,
        { cause: err, details: { driver } },
      );
    }
    throw new CeleriacError(
      ErrorCodes.UNSUPPORTED_URL,
      `${o.role} URL "${redactUrl(o.url)}": ${o.specifier} could not be loaded (is the package built and complete?)`,
      { cause: err, details: { specifier: o.specifier } },
    );
  }
  const ctor = (mod as Record<string, unknown> | null)?.[o.exportName];
  if (typeof ctor !== 'function') {
    throw new CeleriacError(
      ErrorCodes.UNSUPPORTED_URL,
      `${o.role} URL "${redactUrl(o.url)}": ${o.specifier} does not export ${o.exportName}`,
      {
        details: { specifier: o.specifier },
      },
    );
  }
  return ctor as T;
}
