import type { BrokerMessage } from '@celeriac/core';
import type { Message, Options } from 'amqplib';
import { isDelayLevelQueue } from './topology.js';

/**
 * A message's properties that AMQP has no slot for travel in this header, so they are kept as
 * the contract promises (kombu drops them on AMQP). Celeriac removes it on receipt; Celery
 * keeps it as an unknown header.
 */
export const EXTRA_PROPERTIES_HEADER = 'x-celeriac-properties';
/** Epoch ms at which a message delayed longer than the delay levels cover is due. */
export const DELIVER_AT_HEADER = 'x-celeriac-deliver-at';

/** Celery's property names (snake_case, as kombu has them) ↔ amqplib's. */
const PROPERTY_NAMES = [
  ['correlation_id', 'correlationId'],
  ['reply_to', 'replyTo'],
  ['delivery_mode', 'deliveryMode'],
  ['priority', 'priority'],
  ['expiration', 'expiration'],
  ['message_id', 'messageId'],
  ['timestamp', 'timestamp'],
  ['type', 'type'],
  ['user_id', 'userId'],
  ['app_id', 'appId'],
] as const;
const KNOWN = new Set<string>(PROPERTY_NAMES.map(([celery]) => celery));

/** A value amqplib writes with the AMQP field type we chose, not the one it would guess. */
type Typed = { '!': 'int' | 'long' | 'double'; value: number };
type FieldValue = string | boolean | null | Buffer | Typed | FieldValue[] | FieldTable;
interface FieldTable {
  [key: string]: FieldValue;
}

/**
 * Encodes a header value so that py-amqp (Python Celery) reads it back as it was written.
 * amqplib, left to guess, writes a small integer as `b`/`s`, which py-amqp reads as an unsigned
 * byte and as a *short string*, corrupting the rest of the table (a `timelimit` of 300 would);
 * so integers go as a signed 32-bit `I`, as py-amqp itself writes them, larger positive ones as
 * `l` (which py-amqp reads unsigned), anything else as a double. Dates go as ISO strings,
 * as Celery's protocol carries them; `undefined` entries are left out.
 */
export function encodeFieldValue(v: unknown): FieldValue {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      if (Number.isInteger(v)) {
        if (v >= -0x80000000 && v <= 0x7fffffff) return { '!': 'int', value: v };
        if (v > 0 && Number.isSafeInteger(v)) return { '!': 'long', value: v };
      }
      return { '!': 'double', value: v };
    case 'bigint':
      return encodeFieldValue(Number.isSafeInteger(Number(v)) ? Number(v) : v.toString());
    case 'undefined':
      return null;
    case 'object': {
      if (v === null) return null;
      if (Buffer.isBuffer(v)) return v;
      if (v instanceof Uint8Array) return Buffer.from(v);
      if (v instanceof Date) return v.toISOString();
      if (Array.isArray(v)) return v.map(encodeFieldValue);
      return encodeTable(v as Record<string, unknown>);
    }
    default:
      return String(v);
  }
}

export function encodeTable(obj: Readonly<Record<string, unknown>>): FieldTable {
  const out: FieldTable = {};
  for (const [k, val] of Object.entries(obj)) {
    if (val === undefined) continue;
    out[k] = encodeFieldValue(val);
  }
  return out;
}

/**
 * Turns what amqplib decoded into plain values: timestamps become Dates, decimals numbers, and
 * byte strings are copied out of the frame buffer they point into.
 */
export function decodeFieldValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Buffer.isBuffer(v)) return Buffer.from(v);
  if (Array.isArray(v)) {
    const items: unknown[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) items[i] = decodeFieldValue(v[i]);
    return items;
  }
  const o = v as Record<string, unknown>;
  if (Object.prototype.hasOwnProperty.call(o, '!')) {
    const typed = o as { '!': unknown; value: unknown };
    if (typed['!'] === 'timestamp' && typeof typed.value === 'number') {
      return new Date(typed.value * 1000);
    }
    if (typed['!'] === 'decimal') {
      const d = typed.value as { places: number; digits: number };
      return d.digits / 10 ** d.places;
    }
    return typed.value;
  }
  // for…in, not Object.entries: this runs for every header of every delivery.
  const out: Record<string, unknown> = {};
  for (const k in o) {
    if (Object.prototype.hasOwnProperty.call(o, k)) out[k] = decodeFieldValue(o[k]);
  }
  return out;
}

/** The properties AMQP has no slot for (sent in `EXTRA_PROPERTIES_HEADER`), or undefined when none. */
export function extraProperties(
  properties: BrokerMessage['properties'],
): Record<string, unknown> | undefined {
  let extra: Record<string, unknown> | undefined;
  for (const k in properties) {
    if (!Object.prototype.hasOwnProperty.call(properties, k) || KNOWN.has(k)) continue;
    const v = properties[k];
    if (v !== undefined) (extra ??= {})[k] = v;
  }
  return extra;
}

/** amqplib's publish options for a message, as kombu sets them (delivery mode 2, priority 0). */
export function toPublishOptions(
  message: BrokerMessage,
  extraHeaders?: Readonly<Record<string, unknown>>,
): Options.Publish {
  const p = message.properties;
  const headers = encodeTable({ ...message.headers, ...extraHeaders });
  const extra = extraProperties(p);
  if (extra) headers[EXTRA_PROPERTIES_HEADER] = encodeTable(extra);
  const options: Options.Publish = {
    contentType: message.contentType,
    contentEncoding: message.contentEncoding,
    headers,
    deliveryMode: typeof p.delivery_mode === 'number' ? p.delivery_mode : 2,
    priority: typeof p.priority === 'number' ? p.priority : 0,
    mandatory: true,
  };
  if (typeof p.correlation_id === 'string') options.correlationId = p.correlation_id;
  if (typeof p.reply_to === 'string') options.replyTo = p.reply_to;
  if (p.expiration !== undefined && p.expiration !== null)
    options.expiration = String(p.expiration);
  if (typeof p['message_id'] === 'string') options.messageId = p['message_id'];
  if (typeof p['timestamp'] === 'number') options.timestamp = p['timestamp'];
  if (typeof p['type'] === 'string') options.type = p['type'];
  if (typeof p['user_id'] === 'string') options.userId = p['user_id'];
  if (typeof p['app_id'] === 'string') options.appId = p['app_id'];
  return options;
}

/**
 * The `BrokerMessage` an AMQP delivery carries: application headers, Celery-named properties,
 * the body bytes. The traces the delay topology leaves (`x-death` entries of its level queues)
 * and Celeriac's own bookkeeping headers are removed.
 */
export function fromAmqpMessage(msg: Message): BrokerMessage {
  const props = msg.properties as unknown as Record<string, unknown>;
  const rawHeaders = (props['headers'] ?? {}) as Record<string, unknown>;
  const headers = decodeFieldValue(rawHeaders) as Record<string, unknown>;
  const properties: Record<string, unknown> = {};
  for (const [celery, amqp] of PROPERTY_NAMES) {
    const v = props[amqp];
    if (v !== undefined && v !== null) properties[celery] = v;
  }
  const extra: unknown = headers[EXTRA_PROPERTIES_HEADER];
  delete headers[EXTRA_PROPERTIES_HEADER];
  if (extra !== null && typeof extra === 'object' && !Array.isArray(extra)) {
    for (const [k, v] of Object.entries(extra as Record<string, unknown>)) {
      if (!(k in properties)) properties[k] = v;
    }
  }
  delete headers[DELIVER_AT_HEADER];
  stripDelayDeaths(headers);
  return {
    body: Buffer.from(msg.content),
    contentType:
      typeof props['contentType'] === 'string' ? props['contentType'] : 'application/octet-stream',
    contentEncoding:
      typeof props['contentEncoding'] === 'string' ? props['contentEncoding'] : 'binary',
    headers,
    properties,
  };
}

/**
 * RabbitMQ records every dead-lettering in `x-death` (and `x-first-death-*`,
 * `x-last-death-*`). A delayed message was dead-lettered once per level it waited in; those
 * entries say nothing about the task, and would travel on with every retry, so they go.
 * Entries from anyone else's dead-lettering stay, with the summary headers.
 */
export function stripDelayDeaths(headers: Record<string, unknown>): void {
  const deaths = headers['x-death'];
  if (!Array.isArray(deaths)) return;
  const kept = deaths.filter(
    (d) => !(d && typeof d === 'object' && isDelayQueue((d as Record<string, unknown>)['queue'])),
  );
  if (kept.length === deaths.length) return;
  if (kept.length > 0) {
    headers['x-death'] = kept;
    return;
  }
  for (const k of Object.keys(headers)) {
    if (k === 'x-death' || k.startsWith('x-first-death-') || k.startsWith('x-last-death-')) {
      delete headers[k];
    }
  }
}

function isDelayQueue(name: unknown): boolean {
  return typeof name === 'string' && isDelayLevelQueue(name);
}
