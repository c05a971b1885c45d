import { describe, expect, it } from 'vitest';
import { delayRoute, levelPatterns, levelTtl, MAX_DELAY_LEVELS } from './delay.js';

/** RabbitMQ's topic matching: `*` is one word, `#` zero or more. */
function topicMatches(pattern: string, key: string): boolean {
  const p = pattern.split('.');
  const k = key.split('.');
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length;
    if (p[i] === '#') return match(i + 1, j) || (j < k.length && match(i, j + 1));
    return j < k.length && (p[i] === '*' || p[i] === k[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}

/** Follows a message through the levels: the total time it waits. */
function simulate(routingKey: string, topLevel: number): number {
  let waited = 0;
  for (let level = topLevel; level >= 0; level--) {
    const { wait, pass } = levelPatterns(level);
    const w = topicMatches(wait, routingKey);
    const p = topicMatches(pass, routingKey);
    expect(w !== p).toBe(true);
    if (w) waited += levelTtl(level);
  }
  return waited;
}

describe('delayRoute', () => {
  it('writes the delay in binary, highest level first', () => {
    expect(delayRoute(5, 32)).toEqual({
      topLevel: 2,
      routingKey: '1.0.1',
      delayMs: 5,
      capped: false,
    });
    expect(delayRoute(1, 32)).toEqual({ topLevel: 0, routingKey: '1', delayMs: 1, capped: false });
    expect(delayRoute(0.2, 32)?.delayMs).toBe(1);
  });

  it('has nothing to wait for a delay that is due', () => {
    expect(delayRoute(0, 32)).toBeUndefined();
    expect(delayRoute(-1000, 32)).toBeUndefined();
    expect(delayRoute(Number.NaN, 32)).toBeUndefined();
  });

  it('caps a delay longer than the levels cover', () => {
    expect(delayRoute(10, 3)).toEqual({
      topLevel: 2,
      routingKey: '1.1.1',
      delayMs: 7,
      capped: true,
    });
    const longest = delayRoute(2 ** 40, MAX_DELAY_LEVELS);
    expect(longest?.delayMs).toBe(2 ** 32 - 1);
    expect(longest?.topLevel).toBe(31);
    expect(levelTtl(31)).toBeLessThanOrEqual(2 ** 32 - 1);
  });

  it('routes every delay through levels that add up to it', () => {
    for (const d of [
      1,
      2,
      3,
      250,
      500,
      700,
      1023,
      1024,
      60_000,
      20 * 60_000,
      86_400_000,
      2 ** 32 - 1,
    ]) {
      const r = delayRoute(d, MAX_DELAY_LEVELS);
      expect(r).toBeDefined();
      expect(simulate(r!.routingKey, r!.topLevel)).toBe(d);
    }
  });
});

describe('levelTtl', () => {
  it('is 2^n ms, divided by the speedup', () => {
    expect(levelTtl(0)).toBe(1);
    expect(levelTtl(10)).toBe(1024);
    expect(levelTtl(20, 1000)).toBe(1049);
  });
});
