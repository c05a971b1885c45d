import { afterEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { openRedisClient } from './redis-client.js';

// Nothing here connects: every client is lazy or disconnected at once.
const opened: Redis[] = [];
afterEach(() => {
  for (const c of opened.splice(0)) c.disconnect();
});
function open(...args: Parameters<typeof openRedisClient>): Redis {
  const c = openRedisClient(...args);
  opened.push(c);
  return c;
}

describe('openRedisClient', () => {
  it("from a URL: lazy, auto-pipelined and named by default, the user's options winning", () => {
    const c = open('redis://127.0.0.1:1/3', { connectionName: 'celeriac-beat' });
    expect(c.options).toMatchObject({
      db: 3,
      lazyConnect: true,
      enableAutoPipelining: true,
      connectionName: 'celeriac-beat',
    });
    const mine = open('redis://127.0.0.1:1/0', {
      redisOptions: { connectionName: 'mine', enableAutoPipelining: false, lazyConnect: false },
      connectionName: 'celeriac-beat',
    });
    // lazyConnect is the component's call; the name and pipelining are the user's.
    expect(mine.options).toMatchObject({
      connectionName: 'mine',
      enableAutoPipelining: false,
      lazyConnect: true,
    });
  });

  it('overrides come last, over the user options', () => {
    const c = open('redis://127.0.0.1:1/0', {
      redisOptions: { connectionName: 'mine' },
      autoPipelining: false,
      overrides: { connectionName: 'celeriac-results-sub', autoResubscribe: false },
    });
    expect(c.options).toMatchObject({
      connectionName: 'celeriac-results-sub',
      autoResubscribe: false,
      enableAutoPipelining: false,
    });
  });

  it("a duplicate keeps its base's server and takes the options it is given", () => {
    const base = open('redis://127.0.0.1:1/2', { redisOptions: { enableAutoPipelining: true } });
    const blocking = open(base, {
      connectionName: 'celeriac-broker-blocking',
      autoPipelining: false,
      overrides: { maxRetriesPerRequest: null },
    });
    expect(blocking.options).toMatchObject({
      port: 1,
      db: 2,
      lazyConnect: true,
      enableAutoPipelining: false,
      connectionName: 'celeriac-broker-blocking',
      maxRetriesPerRequest: null,
    });
    const sub = open(base, { overrides: { autoResubscribe: false } });
    expect(sub.options).toMatchObject({ enableAutoPipelining: true, autoResubscribe: false });
  });
});
