import { expect } from 'vitest';
import { ErrorCodes, isCeleriacError, type CeleriacError } from '@celeriac/core';

/** The `CeleriacError` that `fn` throws; any other outcome fails the test. */
export function thrownBy(fn: () => unknown): CeleriacError {
  try {
    fn();
  } catch (err) {
    if (isCeleriacError(err)) return err;
    throw err;
  }
  throw new Error('expected a CeleriacError, but nothing was thrown');
}

/** The `CeleriacError` that `fn` throws or its promise rejects with. */
export async function rejectionOf(fn: () => unknown): Promise<CeleriacError> {
  try {
    await fn();
  } catch (err) {
    if (isCeleriacError(err)) return err;
    throw err;
  }
  throw new Error('expected a CeleriacError, but nothing was thrown');
}

/**
 * Asserts the shape every option error has: `code`, a message naming `<where> option
 * "<option>"`, `details.option`, and with `suggestion` the did-you-mean in both the message and
 * `details.suggestion`.
 */
export function expectOptionError(
  err: CeleriacError,
  code: string,
  where: string,
  option: string,
  suggestion?: string,
): void {
  expect(err.code).toBe(code);
  expect(err.message).toContain(`${where} option "${option}"`);
  expect(err.details['option']).toBe(option);
  if (suggestion !== undefined) {
    expect(err.details['suggestion']).toBe(suggestion);
    expect(err.message).toContain(`did you mean "${suggestion}"?`);
  }
}

/** {@link expectOptionError} for `CELERIAC_ERR_INVALID_OPTION`. */
export function expectInvalidOption(
  err: CeleriacError,
  where: string,
  option: string,
  suggestion?: string,
): void {
  expectOptionError(err, ErrorCodes.INVALID_OPTION, where, option, suggestion);
}
