import type { ResultDocument } from '@celeriac/core';

/**
 * True when a decoded value has the shape of Celery's result document (an object with a
 * `status`), which is what every backend checks before trusting what it read back.
 */
export function isResultDocument(value: unknown): value is ResultDocument {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as { status?: unknown }).status === 'string'
  );
}
