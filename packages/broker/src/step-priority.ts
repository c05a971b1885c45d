import type { MessageProperties } from '@celeriac/core';

/**
 * Priorities as the memory and SQLite brokers serve them, the way kombu's Redis transport
 * does: 0..9, a lower number first.
 */
const MIN_PRIORITY = 0;
const MAX_PRIORITY = 9;
/** kombu's `default_priority`: a message without one is served as priority 0. */
const DEFAULT_PRIORITY = 0;

/**
 * The priority a message is served at: its `priority` property (a number, or a numeric string
 * as some clients send), truncated and clamped to 0..9; 0 when absent or not a number.
 */
export function stepPriority(properties: MessageProperties): number {
  const raw = properties.priority as unknown;
  const n =
    typeof raw === 'number'
      ? raw
      : typeof raw === 'string' && raw.trim() !== ''
        ? Number(raw)
        : NaN;
  if (!Number.isFinite(n)) return DEFAULT_PRIORITY;
  return Math.min(MAX_PRIORITY, Math.max(MIN_PRIORITY, Math.trunc(n)));
}
