import { randomBytes } from 'node:crypto';

/** A name no other test (or test run) uses, for queues, keys and task names. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}
