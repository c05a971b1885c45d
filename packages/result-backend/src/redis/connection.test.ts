import { isCeleriacError } from '@celeriac/core';
import { thrownBy } from '@celeriac/testing';
import { describe, expect, it } from 'vitest';
import { endpointTarget, parseRedisUrl } from './connection.js';

describe('parseRedisUrl', () => {
  it('reads host, port and database as ioredis does', () => {
    expect(parseRedisUrl('redis://h:6380/3')).toMatchObject({ host: 'h', port: 6380, db: 3 });
    expect(parseRedisUrl('redis://h?db=2')).toMatchObject({ host: 'h', port: 6379, db: 2 });
    expect(endpointTarget(parseRedisUrl('redis://127.0.0.1/0'))).toBe('redis://localhost:6379/0');
  });

  it('names the option and never shows the password of a URL it refuses', () => {
    for (const url of ['redis://bob:s3cret@h/x', 'redis://:s3cret@h/-1']) {
      const err = thrownBy(() => parseRedisUrl(url));
      expect(isCeleriacError(err, 'CELERIAC_ERR_INVALID_OPTION')).toBe(true);
      expect(err.message).not.toContain('s3cret');
      expect(JSON.stringify(err.details)).not.toContain('s3cret');
      expect(err.details['option']).toBe('url');
    }
    const other = thrownBy(() => parseRedisUrl('amqp://bob:s3cret@h/'));
    expect(isCeleriacError(other, 'CELERIAC_ERR_UNSUPPORTED_URL')).toBe(true);
    expect(other.message).toContain('amqp://bob:***@h/');
  });
});
