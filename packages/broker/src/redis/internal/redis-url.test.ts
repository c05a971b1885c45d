import { describe, expect, it } from 'vitest';
import { ErrorCodes, isCeleriacError } from '@celeriac/core';
import { thrownBy } from '@celeriac/testing';
import type { Redis } from 'ioredis';
import { openRedisClient } from './redis-client.js';
import { parseRedisUrl, sentinelTarget } from './redis-url.js';
import { compileWaitOptions } from './wait-options.js';
import { redisTarget } from '../connection.js';

function invalidUrl(fn: () => unknown): { message: string; details: Record<string, unknown> } {
  const err = thrownBy(fn);
  expect(isCeleriacError(err, ErrorCodes.INVALID_URL)).toBe(true);
  return err;
}

describe('parseRedisUrl: Sentinel URLs as kombu reads them', () => {
  it('lists every sentinel, port 26379 by default, with the master name from the query', () => {
    const s = parseRedisUrl(
      'sentinel://h1:26380/3;sentinel://h2;sentinel://[::1]:1/3?master_name=m',
    );
    expect(s.sentinel).toBe(true);
    expect(s.url).toBeUndefined();
    expect(s.options).toMatchObject({
      sentinels: [
        { host: 'h1', port: 26380 },
        { host: 'h2', port: 26379 },
        { host: '::1', port: 1 },
      ],
      name: 'm',
      role: 'master',
      db: 3,
      failoverDetector: true,
    });
    expect(s.options.tls).toBeUndefined();
  });

  it("the URL's credentials are the master's; the sentinels' come from sentinel_password (kombu's sentinel_kwargs)", () => {
    const s = parseRedisUrl(
      'sentinel://u:p%40ss@h1;sentinel://u:p%40ss@h2/0?master_name=m&sentinel_password=sp&sentinel_username=su',
    );
    expect(s.options).toMatchObject({
      username: 'u',
      password: 'p@ss',
      sentinelPassword: 'sp',
      sentinelUsername: 'su',
    });
  });

  it('reads the database and credentials from the first URL, as kombu, a later one may repeat them', () => {
    expect(parseRedisUrl('sentinel://h1;sentinel://h2/0?master_name=m').options.db).toBe(0);
    expect(
      parseRedisUrl('sentinel://:p@h1/2;sentinel://:p@h2/2?master_name=m').options,
    ).toMatchObject({ db: 2, password: 'p' });
    expect(parseRedisUrl('sentinel://:p@h1/2;sentinel://h2?master_name=m').options).toMatchObject({
      db: 2,
      password: 'p',
    });
  });

  it('takes the master name and sentinel password from ioredis options, the URL winning', () => {
    const user = { name: 'from-options', sentinelPassword: 'x', connectTimeout: 5 };
    expect(parseRedisUrl('sentinel://h1', user).options).toMatchObject(user);
    expect(parseRedisUrl('sentinel://h1?master_name=m', user).options.name).toBe('m');
  });

  it('reconnects (and sends again) a command that a demoted master refused with READONLY', () => {
    const { reconnectOnError } = parseRedisUrl('sentinel://h?master_name=m').options;
    const decide = reconnectOnError as (err: Error) => unknown;
    expect(decide(new Error("READONLY You can't write against a read only replica."))).toBe(2);
    expect(decide(new Error('ERR Error running script (call to f_x): -READONLY You can…'))).toBe(2);
    expect(decide(new Error('WRONGTYPE Operation against a key'))).toBe(false);
    expect(parseRedisUrl('redis://h').options.reconnectOnError).toBeUndefined();
  });

  it('sentinels:// turns TLS on for the master and the sentinels', () => {
    const s = parseRedisUrl('sentinels://h1;sentinels://h2?master_name=m', { tls: { ca: 'CA' } });
    expect(s.options).toMatchObject({
      tls: { ca: 'CA' },
      sentinelTLS: { ca: 'CA' },
      enableTLSForSentinelMode: true,
    });
  });

  it('reads wait_replicas and wait_timeout_ms from any Redis URL, and takes them out of a redis:// one', () => {
    expect(parseRedisUrl('sentinel://h?master_name=m&wait_replicas=1')).toMatchObject({
      waitReplicas: 1,
      waitTimeoutMs: undefined,
    });
    const r = parseRedisUrl('redis://h:6379/2?wait_replicas=2&family=6&wait_timeout_ms=500');
    expect(r).toMatchObject({
      url: 'redis://h:6379/2?family=6',
      waitReplicas: 2,
      waitTimeoutMs: 500,
    });
    expect(parseRedisUrl('redis://h/0?wait_replicas=1').url).toBe('redis://h/0');
    expect(parseRedisUrl('redis://h/0').url).toBe('redis://h/0');
  });

  it.each([
    ['sentinel://h1;sentinel://h2', /names no master: add \?master_name=mymaster/],
    ['sentinel://h1?master_nam=m', /unknown parameter "master_nam"; did you mean "master_name"\?/],
    ['sentinel://h1:port?master_name=m', /not host\[:port\]/],
    ['sentinel://h1/0;sentinel://h2/1?master_name=m', /kombu and Celery read only the first/],
    ['sentinel://h1;sentinel://h2/1?master_name=m', /names a database in a later sentinel URL/],
    ['sentinel://h1;sentinel://:pw@h2?master_name=m', /names a password in a later sentinel URL/],
    ['sentinel://h1/x?master_name=m', /db=x: it takes an integer >= 0/],
    ['sentinel://h1;sentinels://h2?master_name=m', /mixes schemes/],
    ['sentinel://h1;redis://h2?master_name=m', /mixes schemes/],
    ['sentinel://h1?master_name=m;sentinel://h2?master_name=n', /gives master_name twice/],
    ['sentinel://h1?master_name=m&wait_replicas=-1', /wait_replicas=-1/],
    ['redis://h1;redis://h2', /only Sentinel URLs do/],
    ['redis://h?wait_timeout_ms=0', /wait_timeout_ms=0: it takes an integer >= 1/],
  ])('refuses %s with CELERIAC_ERR_INVALID_URL and how to fix it', (url, message) => {
    const err = invalidUrl(() => parseRedisUrl(url));
    expect(err.message).toMatch(message);
    expect(err.details['url']).toBeTypeOf('string');
  });

  it('refuses a scheme that is not Redis with CELERIAC_ERR_UNSUPPORTED_URL', () => {
    const err = thrownBy(() => parseRedisUrl('amqp://u:secret@h'));
    expect(err.code).toBe(ErrorCodes.UNSUPPORTED_URL);
    expect(err.message).not.toContain('secret');
  });

  it('never shows a password in its errors', () => {
    const err = invalidUrl(() => parseRedisUrl('sentinel://:secret@h1?sentinel_password=s2'));
    expect(err.message).not.toMatch(/secret|s2/);
  });
});

describe('openRedisClient from a Sentinel URL', () => {
  it('opens a Sentinel-managed client whose duplicates and fused-ack target follow it', () => {
    const c: Redis = openRedisClient(
      'sentinel://127.0.0.1:1/4;sentinel://localhost:2/4?master_name=m',
    );
    const d = openRedisClient(c, { connectionName: 'dup' });
    try {
      expect(c.options).toMatchObject({ name: 'm', db: 4, lazyConnect: true });
      expect(d.options).toMatchObject({ name: 'm', db: 4, sentinels: c.options.sentinels });
      expect(redisTarget(c)).toBe('sentinel://localhost:1,localhost:2/m/4');
      // Listed in another order, with other loopback names, the same sentinels are the same target.
      expect(sentinelTarget('m', [{ host: '::1', port: 2 }, { port: 1 }], 4)).toBe(redisTarget(c));
    } finally {
      c.disconnect();
      d.disconnect();
    }
  });
});

describe('compileWaitOptions', () => {
  it('takes the option or the URL, 2 s by default, none for 0', () => {
    expect(compileWaitOptions('X', { waitReplicas: 1 }, 'redis://h', {})).toEqual({
      replicas: 1,
      timeoutMs: 2000,
    });
    expect(compileWaitOptions('X', {}, 'redis://h?wait_replicas=2&wait_timeout_ms=50', {})).toEqual(
      { replicas: 2, timeoutMs: 50 },
    );
    expect(compileWaitOptions('X', { waitReplicas: 0 }, 'redis://h', {})).toBeUndefined();
    expect(compileWaitOptions('X', {}, undefined, {})).toBeUndefined();
  });

  it('refuses an option that says otherwise than the URL', () => {
    const err = thrownBy(() =>
      compileWaitOptions('RedisBroker', { waitReplicas: 2 }, 'redis://h?wait_replicas=1', {}),
    );
    expect(isCeleriacError(err, ErrorCodes.INVALID_OPTION)).toBe(true);
    expect((err as Error).message).toMatch(
      /RedisBroker option "waitReplicas" is 2 but the URL says wait_replicas=1/,
    );
  });
});
