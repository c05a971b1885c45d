import { CeleriacError, ErrorCodes } from '@celeriac/core';

/**
 * `CELERIAC_ERR_INVALID_SCHEDULE` naming the field and the value, raised when a schedule is
 * built or an entry registered, so a bad expression never reaches the dispatch loop.
 */
export function invalidSchedule(message: string, field: string, value: unknown, cause?: unknown): CeleriacError {
  return new CeleriacError(ErrorCodes.INVALID_SCHEDULE, message, {
    ...(cause === undefined ? {} : { cause }),
    details: { field, value },
  });
}

/** `JSON.stringify` that never throws, for putting a rejected value into a message. */
export function show(value: unknown): string {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
