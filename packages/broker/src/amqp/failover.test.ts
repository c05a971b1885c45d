import { describe, expect, it } from 'vitest';
import { ErrorCodes, isCeleriacError } from '@celeriac/core';
import { AmqpBroker } from './index.js';
import { parseAmqpUrls, UrlRotation } from './failover.js';

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('parseAmqpUrls', () => {
  it("reads one URL, Celery's ;-joined list, and an array", () => {
    expect(parseAmqpUrls('amqp://h1//', 'AmqpBroker')).toEqual(['amqp://h1//']);
    expect(parseAmqpUrls('amqp://u:p@h1:5672//;amqps://u:p@h2:5671//', 'AmqpBroker')).toEqual([
      'amqp://u:p@h1:5672//',
      'amqps://u:p@h2:5671//',
    ]);
    expect(parseAmqpUrls(['amqp://h1/v', 'amqp://h2/v'], 'AmqpBroker')).toEqual([
      'amqp://h1/v',
      'amqp://h2/v',
    ]);
  });

  it('refuses what a cluster list cannot mean, with typed errors and no password shown', () => {
    const cases: [string | string[], string, RegExp][] = [
      ['amqp://h1//;', ErrorCodes.INVALID_URL, /entry 2 is empty/],
      ['amqp://h1//;redis://h2', ErrorCodes.UNSUPPORTED_URL, /entry 2 of 2/],
      ['amqp://u:secret@h1/a;amqp://u:secret@h2/b', ErrorCodes.INVALID_URL, /virtual host "b"/],
      ['amqp://h1:5672//;amqp://H1:5672//', ErrorCodes.INVALID_URL, /repeats a node/],
      ['amqp://h1//;amqp://h 2//', ErrorCodes.INVALID_URL, /not a valid URL/],
      [[], ErrorCodes.INVALID_URL, /empty/],
    ];
    for (const [url, code, message] of cases) {
      const err = errorOf(() => parseAmqpUrls(url, 'AmqpBroker'));
      expect(isCeleriacError(err, code as never), String(url)).toBe(true);
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain('secret');
    }
  });

  it('is what AmqpBroker checks its url with, a string or an array', async () => {
    const list = new AmqpBroker({ url: ['amqp://127.0.0.1:1//', 'amqp://127.0.0.1:2//'] });
    await list.close();
    const err = errorOf(() => new AmqpBroker({ url: 'amqp://127.0.0.1:1//;http://x' }));
    expect(isCeleriacError(err, ErrorCodes.UNSUPPORTED_URL)).toBe(true);
    const strategy = errorOf(
      () => new AmqpBroker({ url: 'amqp://h//', failoverStrategy: 'random' as never }),
    );
    expect(isCeleriacError(strategy, ErrorCodes.INVALID_OPTION)).toBe(true);
    expect(strategy.message).toMatch(/failoverStrategy/);
  });
});

describe('UrlRotation', () => {
  it('round-robin: in order, the pause after a whole round failed, onwards after a loss', () => {
    const r = new UrlRotation(['a', 'b', 'c'], 'round-robin');
    expect(r.current).toBe('a');
    expect(r.failed()).toEqual({ roundDone: false });
    expect(r.current).toBe('b');
    expect(r.failed()).toEqual({ roundDone: false });
    expect(r.current).toBe('c');
    expect(r.failed()).toEqual({ roundDone: true });
    expect(r.current).toBe('a');
    r.connected();
    r.lost();
    expect(r.current).toBe('b');
    expect(r.failed()).toEqual({ roundDone: false });
    expect(r.failed()).toEqual({ roundDone: false });
    expect(r.failed()).toEqual({ roundDone: true });
    expect(r.current).toBe('b');
  });

  it('one URL: every failure is a whole round', () => {
    const r = new UrlRotation(['a'], 'round-robin');
    expect(r.failed()).toEqual({ roundDone: true });
    r.lost();
    expect(r.current).toBe('a');
  });

  it('shuffle: every URL once per round, in a random order', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const r = new UrlRotation(['a', 'b', 'c', 'd'], 'shuffle', random);
    const orders = new Set<string>();
    for (let round = 0; round < 20; round++) {
      const seen: string[] = [];
      for (let i = 0; i < 4; i++) {
        seen.push(r.current);
        r.failed();
      }
      expect([...seen].sort()).toEqual(['a', 'b', 'c', 'd']);
      orders.add(seen.join());
    }
    expect(orders.size).toBeGreaterThan(3);
  });
});

describe("AmqpBroker's queue type", () => {
  it("takes queueArguments' x-queue-type as the queue type, refusing a contradiction or a stream", async () => {
    const ok = new AmqpBroker({
      url: 'amqp://127.0.0.1:1//',
      queueArguments: { 'x-queue-type': 'quorum' },
      queueType: 'quorum',
    });
    await ok.close();
    for (const options of [
      { queueArguments: { 'x-queue-type': 'quorum' }, queueType: 'classic' as const },
      { queueArguments: { 'x-queue-type': 'stream' } },
      { queueArguments: { 'x-queue-type': 'quorum' }, maxPriority: 10 },
    ]) {
      const err = errorOf(() => new AmqpBroker({ url: 'amqp://127.0.0.1:1//', ...options }));
      expect(isCeleriacError(err, ErrorCodes.INVALID_OPTION), JSON.stringify(options)).toBe(true);
    }
  });
});
