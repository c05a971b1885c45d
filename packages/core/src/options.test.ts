import { describe, expect, it } from 'vitest';
import { closestName, editDistance } from './closest-name.js';
import { isCeleriacError } from './errors.js';
import { optionChecks, optionTypes as t } from './options.js';

describe('optionChecks', () => {
  const { invalid, positive, strict } = optionChecks('ThingBroker');

  it('names the component and the option in a typed error', () => {
    const err = invalid('limit', 'must be small');
    expect(isCeleriacError(err, 'CELERIAC_ERR_INVALID_OPTION')).toBe(true);
    expect(err.message).toBe('ThingBroker option "limit" must be small');
    expect(err.details).toEqual({ option: 'limit' });
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

  const spec = { maxRetries: t.nonNegativeInteger, queue: t.string, mode: t.oneOf('a', 'b') };

  it('strict() refuses an unknown key, suggesting the nearest valid one', () => {
    let err: unknown;
    try {
      strict({ maxRetry: 3 }, spec);
    } catch (e) {
      err = e;
    }
    expect(isCeleriacError(err, 'CELERIAC_ERR_INVALID_OPTION')).toBe(true);
    expect((err as Error).message).toBe(
      'ThingBroker option "maxRetry" is unknown; did you mean "maxRetries"? Fix the spelling, or remove it',
    );
    expect((err as { details: unknown }).details).toEqual({
      option: 'maxRetry',
      value: 3,
      suggestion: 'maxRetries',
    });
  });

  it('strict() lists the valid keys when none is close', () => {
    expect(() => strict({ zzzzzzzz: 1 }, spec)).toThrow(
      'remove it, or use one of: maxRetries, queue, mode',
    );
  });

  it('strict() refuses a wrong type with what it expects, and accepts undefined values', () => {
    expect(() => strict({ mode: 'c' }, spec)).toThrow(
      'ThingBroker option "mode" must be "a" or "b", got "c"',
    );
    expect(() => strict({ maxRetries: 1.5 }, spec)).toThrow(/must be an integer >= 0, got 1.5/);
    expect(() => strict({ maxRetries: undefined, queue: 'q' }, spec)).not.toThrow();
    expect(() => strict(undefined, spec)).not.toThrow();
    expect(() => strict('nope', spec)).toThrow(/ThingBroker options must be an object/);
  });

  it('known() refuses an unknown key, naming the nearest valid one', () => {
    const { known } = optionChecks('ThingBroker');
    expect(() => known({ limit: 1, timeoutMs: 2 }, ['limit', 'timeoutMs'])).not.toThrow();
    expect(() => known({ resultExpires: 1 }, ['url', 'resultExpiresMs'])).toThrow(
      'ThingBroker option "resultExpires" is unknown; did you mean "resultExpiresMs"?',
    );
    expect(() => known({ zzz: 1 }, ['url', 'resultExpiresMs'])).toThrow(
      'ThingBroker option "zzz" is unknown; remove it, or use one of: url, resultExpiresMs',
    );
  });

  it('strict() names the new key of a renamed one', () => {
    expect(() =>
      strict({ idleCheckInterval: 5 }, spec, {
        renamed: { idleCheckInterval: 'idleCheckIntervalMs' },
      }),
    ).toThrow(/option "idleCheckInterval" was renamed "idleCheckIntervalMs"/);
  });

  it('strict() prefixes nested keys and can raise another code', () => {
    const schedule = optionChecks('interval()', 'CELERIAC_ERR_INVALID_SCHEDULE');
    try {
      schedule.strict({ minute: 30 }, { minutes: t.nonNegative }, { prefix: 'x.' });
      expect.unreachable();
    } catch (err) {
      expect(isCeleriacError(err, 'CELERIAC_ERR_INVALID_SCHEDULE')).toBe(true);
      expect((err as { details: unknown }).details).toEqual({
        option: 'x.minute',
        field: 'x.minute',
        value: 30,
        suggestion: 'minutes',
      });
    }
  });
});

describe('closestName', () => {
  it('finds near spellings, case-insensitively, and nothing for far ones', () => {
    expect(editDistance('countDown', 'countdown')).toBe(0);
    expect(editDistance('ab', 'ba')).toBe(1);
    expect(closestName('countDown', ['countdown', 'eta'])).toBe('countdown');
    expect(closestName('brokr', ['broker', 'backend'])).toBe('broker');
    expect(closestName('maxRetry', ['maxRetries', 'queue'])).toBe('maxRetries');
    expect(closestName('minute', ['minutes', 'hours'])).toBe('minutes');
    expect(closestName('autoscale', ['concurrency', 'queues'])).toBeUndefined();
  });
});
