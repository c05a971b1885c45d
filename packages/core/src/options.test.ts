import { describe, expect, it } from 'vitest';
import { isCeleriacError } from './errors.js';
import { optionChecks } from './options.js';

describe('optionChecks', () => {
  const { invalid, positive } = optionChecks('ThingBroker');

  it('names the component and the option in a typed error', () => {
    const err = invalid('limit', 'must be small');
    expect(isCeleriacError(err, 'CELERIAC_ERR_INVALID_OPTION')).toBe(true);
    expect(err.message).toBe('ThingBroker option "limit" must be small');
  });

  it('takes positive numbers, the fallback for undefined, and refuses the rest', () => {
    expect(positive('a', undefined, 7)).toBe(7);
    expect(positive('a', 0.5, 7)).toBe(0.5);
    expect(positive('a', 3, 7, true)).toBe(3);
    for (const [value, integer] of [
      [0, false],
      [-1, false],
      [Number.NaN, false],
      [Infinity, false],
      [1.5, true],
    ] as const) {
      expect(() => positive('a', value, 7, integer)).toThrow(
        /ThingBroker option "a" must be a positive/,
      );
    }
  });

  it('refuses an unknown key, naming the nearest valid one', () => {
    const { known } = optionChecks('ThingBroker');
    expect(() => known({ limit: 1, timeoutMs: 2 }, ['limit', 'timeoutMs'])).not.toThrow();
    expect(() => known({ resultExpires: 1 }, ['url', 'resultExpiresMs'])).toThrow(
      'ThingBroker option "resultExpires" is not an option (valid: url, resultExpiresMs); did you mean "resultExpiresMs"?',
    );
    expect(() => known({ zzz: 1 }, ['url', 'resultExpiresMs'])).toThrow(
      /^ThingBroker option "zzz" is not an option \(valid: url, resultExpiresMs\)$/,
    );
  });
});
