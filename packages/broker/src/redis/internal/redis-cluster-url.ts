import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { redactUrl, urlScheme } from '@celeriac/core/internal';

/** The schemes of a Redis Cluster URL: `redis+cluster://` and, for TLS, `rediss+cluster://`. */
export const CLUSTER_SCHEMES: readonly string[] = ['redis+cluster', 'rediss+cluster'];

export const DEFAULT_CLUSTER_PORT = 6379;

/**
 * What a Redis Cluster URL says: `redis+cluster://[user:password@]host[:port][,host[:port]…][/0]`
 * (`rediss+cluster://` for TLS). The hosts are seed nodes: ioredis asks the first that answers
 * for the slot map (`CLUSTER SLOTS`) and finds the others itself. A cluster has one database,
 * 0, so a path other than `/0` is refused, and so is any query parameter (a cluster takes
 * none; `wait_replicas` in particular cannot be routed to the node that took the write).
 */
export interface RedisClusterUrl {
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  readonly tls: boolean;
  readonly username: string | undefined;
  readonly password: string | undefined;
}

function invalid(url: string, problem: string, details: Record<string, unknown> = {}): never {
  const shown = redactUrl(url);
  throw new CeleriacError(ErrorCodes.INVALID_URL, `Redis Cluster URL "${shown}" ${problem}`, {
    details: { url: shown, ...details },
  });
}

/** True when the URL's scheme is `redis+cluster` or `rediss+cluster`. */
export function isClusterUrl(url: string): boolean {
  const scheme = urlScheme(url);
  return scheme !== undefined && CLUSTER_SCHEMES.includes(scheme);
}

/** Reads a `redis+cluster://` URL; throws `CELERIAC_ERR_INVALID_URL` on anything else in it. */
export function parseClusterUrl(url: string): RedisClusterUrl {
  const scheme = urlScheme(url)!;
  let rest = url.slice(scheme.length + 3);
  const hash = rest.indexOf('#');
  if (hash >= 0) invalid(url, 'has a fragment (#…): a cluster URL takes none');
  const q = rest.indexOf('?');
  if (q >= 0) {
    const keys = [...new URLSearchParams(rest.slice(q + 1)).keys()];
    invalid(
      url,
      `has query parameters (${keys.join(', ')}): a cluster URL takes none (wait_replicas cannot be routed to the node that took a write; pass other ioredis settings as redisOptions)`,
      { parameters: keys },
    );
  }
  const slash = rest.indexOf('/');
  const path = slash >= 0 ? rest.slice(slash + 1) : '';
  if (slash >= 0) rest = rest.slice(0, slash);
  if (path !== '' && path !== '0') {
    invalid(url, `names database "${path}": a Redis Cluster has database 0 only`, { db: path });
  }
  const at = rest.lastIndexOf('@');
  const auth = at >= 0 ? rest.slice(0, at) : '';
  const hosts = at >= 0 ? rest.slice(at + 1) : rest;
  let username: string | undefined;
  let password: string | undefined;
  if (at >= 0) {
    const colon = auth.indexOf(':');
    const user = colon >= 0 ? auth.slice(0, colon) : auth;
    const pass = colon >= 0 ? auth.slice(colon + 1) : '';
    username = user === '' ? undefined : decodeURIComponent(user);
    password = pass === '' ? undefined : decodeURIComponent(pass);
  }
  if (hosts === '') invalid(url, 'names no node: write redis+cluster://host1:6379,host2:6379');
  const nodes = hosts.split(',').map((hp) => {
    const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(hp);
    const port = m?.[2] === undefined ? DEFAULT_CLUSTER_PORT : Number(m[2]);
    if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
      invalid(url, `has a node that is not host[:port]: "${hp}"`, { node: hp });
    }
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
  return { nodes, tls: scheme === 'rediss+cluster', username, password };
}

/**
 * Identity of a cluster, for comparing two clients' targets: its seed nodes, sorted, loopback
 * names as one. Two clients listing the same seeds reach the same cluster.
 */
export function clusterTarget(
  nodes: readonly { host?: string | undefined; port?: number | undefined }[],
): string {
  const loopback = new Set(['localhost', '127.0.0.1', '::1', '']);
  const where = nodes
    .map((n) => {
      const host = (n.host ?? 'localhost').toLowerCase();
      return `${loopback.has(host) ? 'localhost' : host}:${n.port ?? DEFAULT_CLUSTER_PORT}`;
    })
    .sort()
    .join(',');
  return `redis+cluster://${where}`;
}
