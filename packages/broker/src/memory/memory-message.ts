import type { BrokerMessage, MessageProperties } from '@celeriac/core';
import { stepPriority } from '../step-priority.js';

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

/** The priority a message is served at (0..9, lower first). */
export function priorityOf(m: BrokerMessage): number {
  return stepPriority(m.properties);
}
