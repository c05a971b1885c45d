import { randomUUID } from 'node:crypto';
import {
  CeleriacError,
  ErrorCodes,
  type BrokerMessage,
  type MessageProperties,
} from '@celeriac/core';

/**
 * The JSON element kombu keeps in a Redis list (`virtual.Channel.prepare_message` plus
 * `_inplace_augment_message`). Python Celery reads and writes exactly this shape.
 */
export interface KombuEnvelope {
  body: string;
  'content-encoding': string;
  'content-type': string;
  headers: Record<string, unknown>;
  properties: KombuProperties;
}

export interface KombuProperties extends MessageProperties {
  delivery_info: {
    exchange: string;
    routing_key: string;
    redelivered?: boolean;
    [k: string]: unknown;
  };
  priority: number;
  body_encoding: 'base64';
  delivery_tag: string;
}

/** Properties that belong to the transport, not to the message: never handed to the app. */
const TRANSPORT_PROPERTIES = new Set(['delivery_info', 'body_encoding', 'delivery_tag']);

/**
 * Builds kombu's envelope for a message published to `queue`. Like Celery for a direct
 * queue, the message goes through the anonymous exchange (`''`) with the queue name as routing
 * key, so a kombu `restore_visible` on the Python side routes it back without any binding.
 * Key order follows kombu's, so a list element reads the same whichever side wrote it.
 */
export function buildEnvelope(
  queue: string,
  message: BrokerMessage,
  tag: string = randomUUID(),
): { tag: string; json: string } {
  try {
    return { tag, json: envelopeJson(queue, message, tag) };
  } catch (err) {
    throw new CeleriacError(
      ErrorCodes.SERIALIZATION,
      `cannot publish to queue "${queue}": the message headers or properties are not JSON-serializable (${(err as Error).message})`,
      { cause: err, details: { queue } },
    );
  }
}

/**
 * `JSON.stringify` of the envelope object `KombuEnvelope` describes, byte for byte, without
 * building that object: the parts are stringified where they are and joined. Publishing
 * spends most of its time here, and the envelope object (a copy of the properties, two nested
 * objects) lived only to be stringified.
 */
function envelopeJson(queue: string, message: BrokerMessage, tag: string): string {
  return envelopeWithBody(queue, message, tag, `"${message.body.toString('base64')}"`, true);
}

/**
 * The envelope of a UTF-8 text body carried as it is: a JSON string, with no `body_encoding`
 * (kombu's `decode_body` then hands the text to the deserializer unchanged). A third fewer
 * bytes than base64 and no Buffer on the way, for the events a worker sends many of.
 */
export function textEnvelopeJson(
  exchange: string,
  text: string,
  message: Omit<BrokerMessage, 'body'>,
): string {
  try {
    return envelopeWithBody(exchange, message, randomUUID(), JSON.stringify(text), false);
  } catch (err) {
    throw new CeleriacError(
      ErrorCodes.SERIALIZATION,
      `cannot publish to "${exchange}": the message headers or properties are not JSON-serializable (${(err as Error).message})`,
      { cause: err, details: { exchange } },
    );
  }
}

function envelopeWithBody(
  queue: string,
  message: Omit<BrokerMessage, 'body'>,
  tag: string,
  bodyJson: string,
  base64: boolean,
): string {
  const props = message.properties;
  let priority: unknown;
  let appProps: string;
  if (
    'priority' in props ||
    'delivery_info' in props ||
    'body_encoding' in props ||
    'delivery_tag' in props
  ) {
    const {
      delivery_info: _di,
      body_encoding: _be,
      delivery_tag: _dt,
      priority: p,
      ...rest
    } = props;
    priority = p;
    appProps = JSON.stringify(rest);
  } else {
    appProps = JSON.stringify(props);
  }
  // appProps is `{…}`: reopen it to append the transport's properties in kombu's order.
  const head = appProps.length === 2 ? '{' : `${appProps.slice(0, -1)},`;
  // kombu's prepare_message: `properties.setdefault('priority', priority or 0)`.
  const prio = typeof priority === 'number' ? JSON.stringify(priority) : '0';
  // base64 needs no escaping; every other string goes through JSON.stringify.
  return (
    `{"body":${bodyJson}` +
    `,"content-encoding":${JSON.stringify(message.contentEncoding)}` +
    `,"content-type":${JSON.stringify(message.contentType)}` +
    `,"headers":${JSON.stringify(message.headers ?? {})}` +
    `,"properties":${head}"delivery_info":{"exchange":"","routing_key":${JSON.stringify(queue)}}` +
    `,"priority":${prio}${base64 ? ',"body_encoding":"base64"' : ''},"delivery_tag":${JSON.stringify(tag)}}}`
  );
}

export interface ParsedEnvelope {
  envelope: KombuEnvelope;
  message: BrokerMessage;
  redelivered: boolean;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads a list element written by Celeriac or by kombu. Throws a `MALFORMED_MESSAGE`
 * `CeleriacError` naming what is wrong when it is not kombu's shape.
 */
export function parseEnvelope(raw: string): ParsedEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw malformed(`is not JSON (${(err as Error).message})`, err);
  }
  if (!isRecord(parsed)) throw malformed('is not a JSON object');
  const props = parsed['properties'];
  if (!isRecord(props)) throw malformed('has no "properties" object');
  const headers = parsed['headers'] ?? {};
  if (!isRecord(headers)) throw malformed('has "headers" that is not an object');
  const bodyRaw = parsed['body'];
  let body: Buffer;
  if (bodyRaw === undefined || bodyRaw === null) body = Buffer.alloc(0);
  else if (typeof bodyRaw !== 'string') throw malformed('has a "body" that is not a string');
  else if (props['body_encoding'] === 'base64') body = Buffer.from(bodyRaw, 'base64');
  else if (props['body_encoding'] === undefined || props['body_encoding'] === null) {
    body = Buffer.from(bodyRaw, 'utf8');
  } else {
    throw malformed(`has an unsupported body_encoding ${JSON.stringify(props['body_encoding'])}`);
  }
  const contentType = parsed['content-type'];
  const contentEncoding = parsed['content-encoding'];
  const properties: MessageProperties = {};
  for (const k of Object.keys(props)) {
    if (!TRANSPORT_PROPERTIES.has(k)) properties[k] = props[k];
  }
  const info = props['delivery_info'];
  const marked = headers['redelivered'];
  const redelivered = (isRecord(info) && info['redelivered'] === true) || marked === true;
  // kombu's restore marks `headers.redelivered`: a transport marker, surfaced as
  // `Delivery.redelivered`, not a header of the message. The headers are copied only to drop
  // it; a message delivered for the first time keeps the parsed object.
  let appHeaders = headers;
  if (marked !== undefined || 'redelivered' in headers) {
    const { redelivered: _marker, ...rest } = headers;
    appHeaders = rest;
  }
  return {
    envelope: parsed as unknown as KombuEnvelope,
    message: {
      body,
      contentType: typeof contentType === 'string' ? contentType : 'application/json',
      contentEncoding: typeof contentEncoding === 'string' ? contentEncoding : 'utf-8',
      headers: appHeaders,
      properties,
    },
    redelivered,
  };
}

/**
 * A copy of the element marked redelivered the way kombu's `_do_restore_message` marks it:
 * `headers.redelivered` and `properties.delivery_info.redelivered` set to true.
 */
export function markRedelivered(raw: string): string {
  const env = JSON.parse(raw) as Record<string, unknown>;
  const headers = env['headers'];
  const props = env['properties'];
  if (isRecord(headers)) {
    headers['redelivered'] = true;
    if (isRecord(props) && isRecord(props['delivery_info']))
      props['delivery_info']['redelivered'] = true;
  }
  return JSON.stringify(env);
}

/** The priority recorded in an element, for choosing its ready list on the way back. */
export function envelopePriority(raw: string): unknown {
  try {
    const env = JSON.parse(raw) as { properties?: { priority?: unknown } };
    return env.properties?.priority;
  } catch {
    return undefined;
  }
}

function malformed(problem: string, cause?: unknown): CeleriacError {
  return new CeleriacError(
    ErrorCodes.MALFORMED_MESSAGE,
    `malformed Redis message: the list element ${problem}`,
    cause === undefined ? {} : { cause },
  );
}
