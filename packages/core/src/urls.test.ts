import { describe, expect, it } from 'vitest';
import { amqpTarget, isRedisUrl, redactUrl } from './urls.js';

describe('amqpTarget', () => {
  it('names one server and vhost alike however the URL spells it', () => {
    const same = [
      'amqp://localhost',
      'amqp://guest:guest@localhost:5672',
      'amqp://guest:secret@127.0.0.1:5672/',
      'amqp://guest@[::1]/',
    ];
    const targets = same.map(amqpTarget);
    expect(new Set(targets).size).toBe(1);
    expect(targets[0]).toBe('amqp://guest@127.0.0.1:5672/%2F');
    expect(targets[1]).not.toContain('secret');
  });

  it('tells servers, ports, vhosts, users and schemes apart', () => {
    const base = amqpTarget('amqp://guest:guest@localhost:5672/');
    for (const other of [
      'amqp://guest:guest@localhost:5673/',
      'amqp://guest:guest@rabbit.example:5672/',
      'amqp://guest:guest@localhost:5672/app',
      'amqp://alice:guest@localhost:5672/',
      'amqps://guest:guest@localhost:5672/',
    ]) {
      expect(amqpTarget(other), other).not.toBe(base);
    }
    expect(amqpTarget('amqp://h/%2Fapp')).toBe(amqpTarget('amqp://h:5672/%2Fapp'));
    expect(amqpTarget('amqps://h')).toBe('amqps://guest@h:5671/%2F');
  });

  it("names a cluster's URL list by its nodes, in any order", () => {
    const list = amqpTarget('amqp://u:p@h1:5672//;amqp://u:p@h2:5672//');
    expect(list).toBe(amqpTarget('amqp://u@h2//;amqp://u:other@h1//'));
    expect(list).toBe('amqp://u@h1:5672/%2F;amqp://u@h2:5672/%2F');
    expect(list).not.toBe(amqpTarget('amqp://u:p@h1:5672//'));
    expect(amqpTarget('amqp://h1//;redis://h2')).toBeUndefined();
  });

  it('is undefined for URLs that are not AMQP', () => {
    expect(amqpTarget('redis://localhost:6379/0')).toBeUndefined();
    expect(amqpTarget('not a url')).toBeUndefined();
    expect(amqpTarget('rpc://')).toBeUndefined();
  });
});

describe('redactUrl', () => {
  // One rule: a password becomes ***, a user (no secret) is kept, nothing else changes.
  it.each([
    ['redis://bob:pw@h/0', 'redis://bob:***@h/0'],
    ['redis://:pw@h/0', 'redis://:***@h/0'],
    ['redis://bob@h/0', 'redis://bob@h/0'],
    ['redis://h:6379/0', 'redis://h:6379/0'],
    [
      'rediss://default:s3cret@cache.example:6380/2?tls=1',
      'rediss://default:***@cache.example:6380/2?tls=1',
    ],
    ['amqp://u:p@h/', 'amqp://u:***@h/'],
    ['amqp://celery:secret@127.0.0.1:1//', 'amqp://celery:***@127.0.0.1:1//'],
    ['amqps://guest:guest@[::1]:5671/vhost', 'amqps://guest:***@[::1]:5671/vhost'],
    ['rpc://', 'rpc://'],
    ['memory://', 'memory://'],
    ['sqlite://./celeriac.db', 'sqlite://./celeriac.db'],
    ['redis://bob:p@ss@h/0', 'redis://bob:***@h/0'],
    ['redis://bob:pw@h', 'redis://bob:***@h'],
    ['redis://h/0?password=x@y', 'redis://h/0?password=***'],
    [
      'sentinel://:pw@h1:26379;sentinel://:pw@h2:26379/0?master_name=m&sentinel_password=sp',
      'sentinel://:***@h1:26379;sentinel://:***@h2:26379/0?master_name=m&sentinel_password=***',
    ],
    ['sentinels://u:p@h1;sentinels://h2', 'sentinels://u:***@h1;sentinels://h2'],
    ['REDIS://Bob:PW@H/0', 'REDIS://Bob:***@H/0'],
    ['not a url bob:pw@h', 'not a url bob:pw@h'],
    ['', ''],
  ])('%s → %s', (url, redacted) => {
    expect(redactUrl(url)).toBe(redacted);
  });

  it('is idempotent', () => {
    for (const url of [
      'redis://bob:pw@h/0',
      'redis://:pw@h/0',
      'redis://bob@h/0',
      'sentinel://:pw@a;sentinel://b/0?sentinel_password=x',
    ]) {
      expect(redactUrl(redactUrl(url))).toBe(redactUrl(url));
    }
  });
});

describe('isRedisUrl', () => {
  it('takes the four Redis schemes, in any case, and nothing else', () => {
    for (const url of [
      'redis://h',
      'REDISS://h',
      'sentinel://h:26379;sentinel://h2',
      'sentinels://h',
    ])
      expect(isRedisUrl(url)).toBe(true);
    for (const url of ['amqp://h', 'sqlite://./x.db', 'memory://', 'redis', ''])
      expect(isRedisUrl(url)).toBe(false);
  });
});
