import type { BrokerMessage, MessageProperties } from '@celeriac/core';

/** Priorities on this transport run 0..9 and a lower number is served first, as on Redis. */
const MIN_PRIORITY = 0;
const MAX_PRIORITY = 9;
/** kombu's `default_priority`: a message without one is served as priority 0. */
const DEFAULT_PRIORITY = 0;

// A broker must not see later mutation by the publisher, nor a consumer see another
// consumer's: messages are copied in and out. Body bytes are shared and treated as immutable.

function cloneValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(cloneValue);
  if (v instanceof Date) return new Date(v.getTime());
  if (ArrayBuffer.isView(v)) return v;
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = cloneValue(x);
  return out;
}

/** A copy of the message's headers and properties, sharing the body bytes. */
export function cloneMessage(m: BrokerMessage): BrokerMessage {
  return {
    body: m.body,
    contentType: m.contentType,
    contentEncoding: m.contentEncoding,
    headers: cloneValue(m.headers) as Record<string, unknown>,
    properties: cloneValue(m.properties) as MessageProperties,
  };
}

/** kombu's `_get_message_priority`: an int clamped to 0..9, or the default when there is none. */
export function priorityOf(m: BrokerMessage): number {
  const raw = m.properties.priority as unknown;
  const n =
    typeof raw === 'number'
      ? raw
      : typeof raw === 'string' && raw.trim() !== ''
        ? Number(raw)
        : NaN;
  if (!Number.isFinite(n)) return DEFAULT_PRIORITY;
  return Math.min(MAX_PRIORITY, Math.max(MIN_PRIORITY, Math.trunc(n)));
}
