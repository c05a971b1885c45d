import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { closestName, redactUrl, urlScheme } from '@celeriac/core/internal';
import type { RedisOptions } from 'ioredis';
import { isClusterUrl, parseClusterUrl, type RedisClusterUrl } from './redis-cluster-url.js';

/**
 * What a Redis URL says, read once for every Redis connection Celeriac opens: `redis://` and
 * `rediss://` as ioredis reads them, and `sentinel://` / `sentinels://` as kombu does
 * (`transport/redis.py`, `SentinelChannel`): a `;`-joined list of sentinels, one URL each,
 * `sentinel://[user:password@]host[:port][/db]`, port 26379 by default.
 *
 * Sentinel semantics, kombu's and Celery's: the URL's user and password are the master's
 * (redis-py's connection kwargs); the sentinels' own credentials are kombu's `sentinel_kwargs`,
 * here `?sentinel_password=` / `?sentinel_username=` or ioredis's `sentinelPassword` /
 * `sentinelUsername`. The master's name is kombu's `master_name` transport option, here
 * `?master_name=` or ioredis's `name`. The database and the master's credentials are the first
 * URL's, as kombu reads them; a later URL that names others is refused rather than ignored.
 * Query parameters may follow any URL of the list: kombu ignores a query after a later URL
 * (and refuses one after the first), so `sentinel://h1;sentinel://h2/0?master_name=m` serves
 * Python Celery too, given its `master_name` transport option.
 */
export interface RedisUrlSettings {
  /** The URL to hand ioredis (`redis://` only, Celeriac's own parameters taken out), or undefined. */
  readonly url: string | undefined;
  /** ioredis options the URL stands for: for Sentinel, the sentinels, master name, db, credentials, TLS. */
  readonly options: RedisOptions;
  readonly sentinel: boolean;
  /** For a `redis+cluster://` URL, its seed nodes and credentials (`url` is then undefined). */
  readonly cluster?: RedisClusterUrl | undefined;
  /** `?wait_replicas=`: replicas that must confirm each publish and stored result. */
  readonly waitReplicas: number | undefined;
  /** `?wait_timeout_ms=`: how long a write waits for them. */
  readonly waitTimeoutMs: number | undefined;
}

/** Query parameters Celeriac reads from every Redis URL (and takes out before ioredis sees it). */
const WAIT_PARAMS = ['wait_replicas', 'wait_timeout_ms'] as const;
/** Every query parameter a Sentinel URL takes. */
const SENTINEL_PARAMS = [
  'master_name',
  'sentinel_password',
  'sentinel_username',
  'password',
  'db',
  ...WAIT_PARAMS,
] as const;

export const DEFAULT_SENTINEL_PORT = 26379;

/**
 * When a write on a Sentinel-managed connection meets a master that was demoted to a replica
 * (`READONLY`, after a `SENTINEL FAILOVER` or a partition healed), reconnect (so the sentinels
 * are asked for the new master) and send the command again.
 */
function reconnectOnReadOnly(err: Error): 2 | false {
  // Redis 7 starts a script's error with it too; Redis 6 wraps it ("ERR Error running script … -READONLY").
  return /(^|-)READONLY /.test(err.message) ? 2 : false;
}

function invalidUrl(url: string, problem: string, details: Record<string, unknown> = {}): never {
  const shown = redactUrl(url);
  throw new CeleriacError(ErrorCodes.INVALID_URL, `Redis URL "${shown}" ${problem}`, {
    details: { url: shown, ...details },
  });
}

function integerParam(url: string, name: string, text: string, min: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min) {
    invalidUrl(url, `has ${name}=${text}: it takes an integer >= ${min}`, {
      parameter: name,
      value: text,
    });
  }
  return n;
}

function waitParams(
  url: string,
  query: URLSearchParams,
): Pick<RedisUrlSettings, 'waitReplicas' | 'waitTimeoutMs'> {
  const replicas = query.get('wait_replicas');
  const timeout = query.get('wait_timeout_ms');
  return {
    waitReplicas: replicas === null ? undefined : integerParam(url, 'wait_replicas', replicas, 0),
    waitTimeoutMs: timeout === null ? undefined : integerParam(url, 'wait_timeout_ms', timeout, 1),
  };
}

/** Reads a Redis URL; `user` is the caller's ioredis options (the URL's values win over them). */
export function parseRedisUrl(url: string, user: RedisOptions = {}): RedisUrlSettings {
  const scheme = urlScheme(url);
  if (scheme === 'sentinel' || scheme === 'sentinels') return parseSentinelUrl(url, user);
  if (isClusterUrl(url)) {
    const cluster = parseClusterUrl(url);
    return {
      url: undefined,
      options: {},
      sentinel: false,
      cluster,
      ...waitParams(url, new URLSearchParams()),
    };
  }
  if (scheme !== 'redis' && scheme !== 'rediss') {
    throw new CeleriacError(
      ErrorCodes.UNSUPPORTED_URL,
      `"${redactUrl(url)}" is not a Redis URL: use redis://host:6379/0, rediss:// (TLS), sentinel://host:26379/0;sentinel://host2:26379?master_name=mymaster, or redis+cluster://host1:6379,host2:6379`,
      { details: { url: redactUrl(url), scheme: scheme ?? null } },
    );
  }
  if (url.includes(';')) {
    const next = url.slice(url.indexOf(';') + 1);
    if (urlScheme(next) !== undefined) {
      invalidUrl(
        url,
        'lists several servers: only Sentinel URLs do (sentinel://host1:26379;sentinel://host2:26379/0?master_name=mymaster)',
      );
    }
  }
  const q = url.indexOf('?');
  if (q < 0)
    return { url, options: {}, sentinel: false, ...waitParams(url, new URLSearchParams()) };
  const query = new URLSearchParams(url.slice(q + 1));
  const wait = waitParams(url, query);
  // Untouched unless it has Celeriac's own parameters: ioredis reads the rest as it is written.
  if (!WAIT_PARAMS.some((p) => query.has(p))) return { url, options: {}, sentinel: false, ...wait };
  for (const p of WAIT_PARAMS) query.delete(p);
  const rest = query.toString();
  return { url: url.slice(0, q) + (rest ? `?${rest}` : ''), options: {}, sentinel: false, ...wait };
}

interface Chunk {
  host: string;
  port: number;
  db: string | undefined;
  username: string | undefined;
  password: string | undefined;
}

function parseChunk(url: string, chunk: string, scheme: string): Chunk {
  if (urlScheme(chunk) !== scheme) {
    invalidUrl(
      url,
      `mixes schemes: every sentinel in the list is written ${scheme}://host:port (sentinels:// for TLS, for all of them)`,
    );
  }
  let parsed: URL;
  try {
    // kombu reads each URL with HTTP's rules; so does this.
    parsed = new URL(`http://${chunk.slice(scheme.length + 3)}`);
  } catch (err) {
    return invalidUrl(
      url,
      `has a sentinel address that is not host[:port]: "${redactUrl(chunk)}"`,
      {
        cause: String(err),
      },
    );
  }
  const path = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  const host = parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  return {
    host,
    port: parsed.port === '' ? DEFAULT_SENTINEL_PORT : Number(parsed.port),
    db: path === '' ? undefined : path,
    username: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
  };
}

/**
 * The first URL's `what`, which is what kombu and Celery read. A later URL may repeat it (the
 * database is often written once, at the end, as `/0`) but not say otherwise: Python would
 * not see it, and the two sides would part ways.
 */
function fromFirst(
  url: string,
  chunks: readonly Chunk[],
  what: 'db' | 'username' | 'password',
): string | undefined {
  const first = chunks[0]![what];
  const same = what === 'db' ? (first ?? '0') : first;
  if (chunks.slice(1).some((c) => c[what] !== undefined && c[what] !== same)) {
    const fix =
      what === 'db'
        ? 'write it on the first URL, or the same on each (sentinel://h1:26379/1;sentinel://h2:26379/1)'
        : 'write them on the first URL, or the same on each (sentinel://:pw@h1:26379;sentinel://:pw@h2:26379)';
    invalidUrl(
      url,
      `names a ${what === 'db' ? 'database' : what} in a later sentinel URL that the first does not: kombu and Celery read only the first URL's; ${fix}`,
    );
  }
  return first;
}

function parseSentinelUrl(url: string, user: RedisOptions): RedisUrlSettings {
  const scheme = urlScheme(url)!;
  const tls = scheme === 'sentinels';
  const query = new URLSearchParams();
  const chunks = url.split(';').map((raw) => {
    const q = raw.indexOf('?');
    if (q >= 0) {
      for (const [key, value] of new URLSearchParams(raw.slice(q + 1))) {
        const seen = query.get(key);
        if (seen !== null && seen !== value) {
          invalidUrl(url, `gives ${key} twice, with different values`, { parameter: key });
        }
        query.set(key, value);
      }
    }
    return parseChunk(url, q >= 0 ? raw.slice(0, q) : raw, scheme);
  });
  for (const key of query.keys()) {
    if (!(SENTINEL_PARAMS as readonly string[]).includes(key)) {
      const near = closestName(key, SENTINEL_PARAMS);
      invalidUrl(
        url,
        `has the unknown parameter "${key}"${near ? `; did you mean "${near}"?` : ''} (a Sentinel URL takes ${SENTINEL_PARAMS.join(', ')})`,
        { parameter: key, ...(near ? { suggestion: near } : {}) },
      );
    }
  }
  const name = query.get('master_name') ?? user.name;
  if (name === undefined || name === '') {
    invalidUrl(
      url,
      "names no master: add ?master_name=mymaster (the name in the sentinels' `sentinel monitor` line; Celery's broker_transport_options['master_name']), or pass redisOptions: { name: 'mymaster' }",
    );
  }
  const dbText = query.get('db') ?? fromFirst(url, chunks, 'db');
  const db = dbText === undefined ? (user.db ?? 0) : integerParam(url, 'db', dbText, 0);
  const password = query.get('password') ?? fromFirst(url, chunks, 'password');
  const username = fromFirst(url, chunks, 'username');
  const sentinelPassword = query.get('sentinel_password');
  const sentinelUsername = query.get('sentinel_username');
  const options: RedisOptions = {
    failoverDetector: true,
    reconnectOnError: reconnectOnReadOnly,
    ...user,
    sentinels: chunks.map((c) => ({ host: c.host, port: c.port })),
    name,
    role: 'master',
    db,
    ...(password === undefined ? {} : { password }),
    ...(username === undefined ? {} : { username }),
    ...(sentinelPassword === null ? {} : { sentinelPassword }),
    ...(sentinelUsername === null ? {} : { sentinelUsername }),
    ...(tls
      ? {
          tls: user.tls ?? {},
          enableTLSForSentinelMode: true,
          sentinelTLS: user.sentinelTLS ?? user.tls ?? {},
        }
      : {}),
  };
  return { url: undefined, options, sentinel: true, ...waitParams(url, query) };
}

/**
 * Identity of a Sentinel-managed master and database, for `RedisFusedAck.target`: the master
 * name, the sentinels (sorted, loopback names as one) and the database. Two clients listing the
 * same sentinels for the same master reach the same server, whichever one it is at the moment.
 */
export function sentinelTarget(
  name: string,
  sentinels: readonly { host?: string | undefined; port?: number | undefined }[],
  db: number,
): string {
  const loopback = new Set(['localhost', '127.0.0.1', '::1', '']);
  const where = sentinels
    .map((s) => {
      const host = (s.host ?? 'localhost').toLowerCase();
      return `${loopback.has(host) ? 'localhost' : host}:${s.port ?? DEFAULT_SENTINEL_PORT}`;
    })
    .sort()
    .join(',');
  return `sentinel://${where}/${encodeURIComponent(name)}/${db}`;
}
