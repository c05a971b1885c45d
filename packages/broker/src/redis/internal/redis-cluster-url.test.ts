import { describe, expect, it } from 'vitest';
import { ErrorCodes, isCeleriacError } from '@celeriac/core';
import { thrownBy } from '@celeriac/testing';
import { clusterTarget, isClusterUrl, parseClusterUrl } from './redis-cluster-url.js';
import { parseRedisUrl } from './redis-url.js';

function invalidUrl(fn: () => unknown): { message: string } {
  const err = thrownBy(fn);
  expect(isCeleriacError(err, ErrorCodes.INVALID_URL)).toBe(true);
  return err;
}

describe('parseClusterUrl: redis+cluster:// seed lists', () => {
  it('lists the seed nodes, port 6379 by default, with credentials and TLS', () => {
    expect(parseClusterUrl('redis+cluster://h1:7000,h2,[::1]:7002/0')).toEqual({
      nodes: [
        { host: 'h1', port: 7000 },
        { host: 'h2', port: 6379 },
        { host: '::1', port: 7002 },
      ],
      tls: false,
      username: undefined,
      password: undefined,
    });
    expect(parseClusterUrl('rediss+cluster://u:p%40ss@h1:7000')).toMatchObject({
      tls: true,
      username: 'u',
      password: 'p@ss',
    });
    expect(isClusterUrl('REDIS+CLUSTER://h:1')).toBe(true);
    expect(isClusterUrl('redis://h:1')).toBe(false);
  });

  it('is what parseRedisUrl returns for a cluster URL', () => {
    const s = parseRedisUrl('redis+cluster://h1:7000,h2:7001');
    expect(s.url).toBeUndefined();
    expect(s.cluster?.nodes).toHaveLength(2);
    expect(s.waitReplicas).toBeUndefined();
  });

  it('refuses a database other than 0, query parameters, and nodes that are not host[:port]', () => {
    expect(invalidUrl(() => parseClusterUrl('redis+cluster://h1:7000/1')).message).toMatch(
      /database 0 only/,
    );
    expect(
      invalidUrl(() => parseClusterUrl('redis+cluster://h1:7000?wait_replicas=1')).message,
    ).toMatch(/takes none/);
    invalidUrl(() => parseClusterUrl('redis+cluster://'));
    invalidUrl(() => parseClusterUrl('redis+cluster://h1:99999'));
    invalidUrl(() => parseClusterUrl('redis+cluster://h1:70a0'));
    // The password is never shown.
    expect(invalidUrl(() => parseClusterUrl('redis+cluster://:secret@h1/3')).message).not.toMatch(
      /secret/,
    );
  });

  it('names a cluster by its sorted seeds, loopback names as one', () => {
    expect(
      clusterTarget([
        { host: '127.0.0.1', port: 7001 },
        { host: 'localhost', port: 7000 },
      ]),
    ).toBe('redis+cluster://localhost:7000,localhost:7001');
  });
});
