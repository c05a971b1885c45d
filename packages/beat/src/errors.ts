import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { optionChecks, type OptionChecks } from '@celeriac/core/internal';

/**
 * `CELERIAC_ERR_INVALID_SCHEDULE` naming the field and the value, raised when a schedule is
 * built or an entry registered, so a bad expression never reaches the dispatch loop.
 */
export function invalidSchedule(
  message: string,
  field: string,
  value: unknown,
  cause?: unknown,
  extra: { readonly expected?: string; readonly suggestion?: string } = {},
): CeleriacError {
  return new CeleriacError(ErrorCodes.INVALID_SCHEDULE, message, {
    ...(cause === undefined ? {} : { cause }),
    // `option` as every option error has it; `field` as docs/errors.md has long promised.
    details: { field, option: field, value, ...extra },
  });
}

/**
 * Option checks for schedules and entries: unknown keys and wrong types raise
 * `CELERIAC_ERR_INVALID_SCHEDULE` (the code docs/errors.md gives schedules), naming the key.
 */
export function scheduleChecks(owner: string): OptionChecks {
  return optionChecks(owner, ErrorCodes.INVALID_SCHEDULE);
}

/** `JSON.stringify` that never throws, for putting a rejected value into a message. */
export function show(value: unknown): string {
  if (value instanceof Date)
    return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
