import { describe, expect, it } from 'vitest';
import {
  mayNeedLosslessParse,
  needsRawNumber,
  parseJsonLossless,
  rawNumberMark,
  restoreRawTokens,
} from './json-text.js';

/** A reproducible pseudo-random source, so a failing case can be replayed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomValue(rand: () => number, depth: number): unknown {
  const pick = Math.floor(rand() * (depth > 3 ? 6 : 8));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return Math.floor((rand() - 0.5) * 2 ** 40);
    case 3:
      // Doubles JSON.stringify writes with a fraction or an exponent (integers beyond 2^53
      // written as digits are Python ints, read as BigInt: the table below has those).
      return Number(`${(rand() - 0.5).toPrecision(12)}e${Math.floor(rand() * 36 - 20)}`);
    case 4:
      return ['', 'a', 'é"\\\n\t\u0001', '\ud83d\ude00 x', '__proto__', 'NaN'][
        Math.floor(rand() * 6)
      ];
    case 5:
      return -0;
    case 6: {
      const n = Math.floor(rand() * 4);
      return Array.from({ length: n }, () => randomValue(rand, depth + 1));
    }
    default: {
      const out: Record<string, unknown> = {};
      const n = Math.floor(rand() * 4);
      for (let i = 0; i < n; i++) out[`k${i}${'"\\é'.slice(0, i)}`] = randomValue(rand, depth + 1);
      return out;
    }
  }
}

describe('parseJsonLossless', () => {
  it('reads what JSON.parse reads, the same way (randomised, with spacing)', () => {
    const rand = lcg(20261202);
    for (let i = 0; i < 2000; i++) {
      const value = randomValue(rand, 0);
      for (const text of [JSON.stringify(value), JSON.stringify(value, null, i % 3)]) {
        expect(parseJsonLossless(text)).toEqual(JSON.parse(text));
      }
    }
  });

  it.each([
    ['18446744073709551616', 18446744073709551616n],
    ['-18446744073709551616', -18446744073709551616n],
    ['9007199254740992', 9007199254740992n],
    ['9007199254740991', 9007199254740991],
    ['-9007199254740991', -9007199254740991],
    ['123456789012345678901234567890', 123456789012345678901234567890n],
    ['1e300', 1e300],
    ['12345678901234567890.5', 12345678901234567890.5],
    ['-0', -0],
    ['NaN', Number.NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    [' [ NaN , -Infinity , {"a" : 1} ] ', [Number.NaN, -Infinity, { a: 1 }]],
  ])('%s', (text, expected) => {
    expect(parseJsonLossless(text)).toEqual(expected);
  });

  it('keeps "__proto__" an own key, as JSON.parse does', () => {
    const v = parseJsonLossless('{"__proto__": {"polluted": 1}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('revives objects innermost first', () => {
    const seen: string[] = [];
    const out = parseJsonLossless('{"a": {"b": {}}, "c": [{}]}', (o) => {
      seen.push(JSON.stringify(o));
      return { wrapped: Object.keys(o).length };
    });
    expect(seen).toEqual([
      '{}',
      '{"b":{"wrapped":0}}',
      '{}',
      '{"a":{"wrapped":1},"c":[{"wrapped":0}]}',
    ]);
    expect(out).toEqual({ wrapped: 2 });
  });

  it.each(['', '[1,', '{"a" 1}', '[1 2]', 'nul', '"abc', '{"a":1}x', '01', '[-]', '"\\x"', 'nan'])(
    'refuses %j with a SyntaxError, as JSON.parse does',
    (text) => {
      expect(() => parseJsonLossless(text)).toThrow(SyntaxError);
    },
  );
});

describe('mayNeedLosslessParse', () => {
  it('sends only text that may hold a big integer or NaN / Infinity to the lossless reader', () => {
    expect(mayNeedLosslessParse('[[2, 3], {}, {"callbacks": null}]')).toBe(false);
    expect(mayNeedLosslessParse('[[1767323045678], {}, {}]')).toBe(false);
    expect(mayNeedLosslessParse('[[9007199254740993], {}, {}]')).toBe(true);
    expect(mayNeedLosslessParse('[[NaN], {}, {}]')).toBe(true);
    expect(mayNeedLosslessParse('[[-Infinity], {}, {}]')).toBe(true);
  });
});

describe('rawNumberMark / restoreRawTokens', () => {
  it('round-trips through JSON.stringify', () => {
    const text = restoreRawTokens(
      JSON.stringify([2n ** 70n, 5n, Number.NaN, -Infinity], (_k, v: unknown) =>
        typeof v === 'bigint' || (typeof v === 'number' && !Number.isFinite(v))
          ? rawNumberMark(v)
          : v,
      ),
    );
    expect(text).toBe('[1180591620717411303424,5,NaN,-Infinity]');
    expect(parseJsonLossless(text)).toEqual([2n ** 70n, 5, Number.NaN, -Infinity]);
  });

  it('writes a double beyond 2^53 that holds an integer as a float, so it comes back a number', () => {
    for (const n of [2 ** 53, -(2 ** 60), 1.5e20]) {
      expect(needsRawNumber(n)).toBe(true);
      const text = restoreRawTokens(JSON.stringify([rawNumberMark(n)]));
      expect(text).toBe(`[${String(n)}.0]`);
      expect(parseJsonLossless(text)).toEqual([n]);
    }
    for (const n of [0, -0, 1.5, 2 ** 53 - 1, 1e21, 1e300, -1e-300])
      expect(needsRawNumber(n)).toBe(false);
  });
});
