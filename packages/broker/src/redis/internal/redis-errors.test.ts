import { describe, expect, it } from 'vitest';
import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { isConnectionError, redisUnavailable, toRedisError } from './redis-errors.js';

function withCode(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

describe('isConnectionError', () => {
  it.each([
    ['ECONNREFUSED', withCode('ECONNREFUSED')],
    ['ECONNRESET', withCode('ECONNRESET')],
    ['ECONNABORTED', withCode('ECONNABORTED')],
    ['ENOTFOUND', withCode('ENOTFOUND')],
    ['EAI_AGAIN', withCode('EAI_AGAIN')],
    ['EHOSTUNREACH', withCode('EHOSTUNREACH')],
    ['ENETUNREACH', withCode('ENETUNREACH')],
    ['ETIMEDOUT', withCode('ETIMEDOUT')],
    ['EPIPE', withCode('EPIPE')],
    ['a closed connection', new Error('Connection is closed.')],
    ['a spent retry budget', new Error('Reached the max retries per request limit (which is 1).')],
    ['a dead stream', new Error("Stream isn't writeable and enableOfflineQueue options is false")],
    ['a connect timeout', new Error('connect ETIMEDOUT')],
    ['a socket closed mid-reply', new Error('Socket closed unexpectedly')],
    [
      'MaxRetriesPerRequestError',
      Object.assign(new Error('x'), { name: 'MaxRetriesPerRequestError' }),
    ],
  ])('is true for %s', (_what, err) => {
    expect(isConnectionError(err)).toBe(true);
  });

  it.each([
    ['WRONGTYPE', new Error('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['OOM', new Error('OOM command not allowed when used memory > maxmemory')],
    ['not an Error', 'ECONNREFUSED'],
  ])('is false for %s', (_what, err) => {
    expect(isConnectionError(err)).toBe(false);
  });
});

describe('toRedisError', () => {
  const refused = withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1');

  it('broker: BROKER_UNAVAILABLE with the URL redacted and the last connection error', () => {
    const err = toRedisError('broker', refused, {
      url: 'redis://bob:pw@127.0.0.1:1/0',
      lastError: new Error('read ECONNRESET'),
    }) as CeleriacError;
    expect(err.code).toBe(ErrorCodes.BROKER_UNAVAILABLE);
    expect(err.message).toBe(
      'cannot reach the Redis broker at redis://bob:***@127.0.0.1:1/0 (connect ECONNREFUSED ' +
        '127.0.0.1:1; last connection error: read ECONNRESET). Check that Redis is running and ' +
        'reachable from here, and that the broker URL (host, port, password, database number) is right.',
    );
    expect(err.details).toEqual({ url: 'redis://bob:***@127.0.0.1:1/0' });
    expect(err.cause).toBe(refused);
  });

  it("broker: a command's own error passes through", () => {
    const wrongType = new Error(
      'WRONGTYPE Operation against a key holding the wrong kind of value',
    );
    expect(toRedisError('broker', wrongType, { url: 'redis://h/0' })).toBe(wrongType);
  });

  it('result backend: BACKEND_UNAVAILABLE naming the operation, also for a refused command', () => {
    const down = toRedisError('result backend', refused, {
      url: 'redis://:pw@h:6379/0',
      operation: 'get (GET)',
    }) as CeleriacError;
    expect(down.code).toBe(ErrorCodes.BACKEND_UNAVAILABLE);
    expect(down.message).toBe(
      'cannot reach the Redis result backend at redis://:***@h:6379/0 (get (GET): connect ' +
        "ECONNREFUSED 127.0.0.1:1); check that redis-server is running there and that the URL's " +
        'host, port, database and password are right',
    );
    expect(down.details).toEqual({ url: 'redis://:***@h:6379/0', operation: 'get (GET)' });
    const oom = toRedisError('result backend', new Error('OOM command not allowed'), {
      url: 'redis://h:6379/0',
      operation: 'forget (DEL)',
    }) as CeleriacError;
    expect(oom.code).toBe(ErrorCodes.BACKEND_UNAVAILABLE);
    expect(oom.message).toBe(
      'the Redis result backend at redis://h:6379/0 refused forget (DEL): OOM command not allowed',
    );
  });

  it('passes Celeriac errors through', () => {
    const closed = new CeleriacError(ErrorCodes.CLOSED, 'closed');
    expect(toRedisError('result backend', closed, { url: 'redis://h/0' })).toBe(closed);
    expect(redisUnavailable('broker', refused, { url: 'redis://h/0' }).code).toBe(
      ErrorCodes.BROKER_UNAVAILABLE,
    );
  });
});
