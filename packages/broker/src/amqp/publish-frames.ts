import { CeleriacError, ErrorCodes, type BrokerMessage } from '@celeriac/core';
import type { Channel, Options } from 'amqplib';
import { EXTRA_PROPERTIES_HEADER, extraProperties, toPublishOptions } from './codec.js';
import { FieldWriter } from './field-table.js';

/**
 * A message's AMQP content-header properties (property flags and property list), encoded once,
 * when the message is handed to the broker. amqplib encodes the properties, and its headers
 * table field by field, each time it writes a message, after building a typed copy of the
 * table (`toPublishOptions`): a third of a publisher's CPU per task on Celery's 16 headers.
 * These bytes are what amqplib would have written (`publish-frames.test.ts` compares them).
 */
export class EncodedProperties {
  constructor(
    /** Property flags (2 bytes) and the property list, as in a content header frame. */
    readonly bytes: Buffer,
    /** basic.publish's `mandatory` bit. */
    readonly mandatory: boolean,
    /**
     * amqplib's options for the same message, for an amqplib whose internals `publishEncoded`
     * does not recognise (never the case with the version this package depends on; a test says
     * so).
     */
    readonly fallback: () => Options.Publish,
  ) {}
}

/** How a message's publish departs from kombu's defaults (persistent, mandatory). */
export interface EncodeOverrides {
  readonly deliveryMode?: number;
  readonly mandatory?: boolean;
}

const writer = new FieldWriter();

const F_CONTENT_TYPE = 0x8000;
const F_CONTENT_ENCODING = 0x4000;
const F_HEADERS = 0x2000;
const F_DELIVERY_MODE = 0x1000;
const F_PRIORITY = 0x0800;
const F_CORRELATION_ID = 0x0400;
const F_REPLY_TO = 0x0200;
const F_EXPIRATION = 0x0100;
const F_MESSAGE_ID = 0x0080;
const F_TIMESTAMP = 0x0040;
const F_TYPE = 0x0020;
const F_USER_ID = 0x0010;
const F_APP_ID = 0x0008;

/**
 * `toPublishOptions(message, extraHeaders)` (with `overrides` on top), encoded: the same
 * properties, headers in the same order with the same types, and the same errors for what AMQP
 * cannot carry (a property string over 255 bytes), thrown here rather than when written.
 */
export function encodeMessageProperties(
  message: BrokerMessage,
  extraHeaders?: Readonly<Record<string, unknown>>,
  overrides?: EncodeOverrides,
): EncodedProperties {
  const p = message.properties;
  const extra = extraProperties(p);
  let headers: Readonly<Record<string, unknown>> = message.headers;
  if (extraHeaders !== undefined || extra !== undefined) {
    const merged: Record<string, unknown> = { ...message.headers, ...extraHeaders };
    if (extra !== undefined) merged[EXTRA_PROPERTIES_HEADER] = extra;
    headers = merged;
  }
  const w = writer;
  w.reset();
  w.pos = 2;
  let flags = F_HEADERS;
  if (message.contentType != null) {
    flags |= F_CONTENT_TYPE;
    w.shortstr(asString(message.contentType, 'contentType'), 'contentType');
  }
  if (message.contentEncoding != null) {
    flags |= F_CONTENT_ENCODING;
    w.shortstr(asString(message.contentEncoding, 'contentEncoding'), 'contentEncoding');
  }
  w.table(headers);
  flags |= F_DELIVERY_MODE | F_PRIORITY;
  const deliveryMode =
    overrides?.deliveryMode ?? (typeof p.delivery_mode === 'number' ? p.delivery_mode : 2);
  octet(w, deliveryMode, 'delivery_mode');
  octet(w, typeof p.priority === 'number' ? p.priority : 0, 'priority');
  if (typeof p.correlation_id === 'string') {
    flags |= F_CORRELATION_ID;
    w.shortstr(p.correlation_id, 'correlation_id');
  }
  if (typeof p.reply_to === 'string') {
    flags |= F_REPLY_TO;
    w.shortstr(p.reply_to, 'reply_to');
  }
  if (p.expiration !== undefined && p.expiration !== null) {
    flags |= F_EXPIRATION;
    w.shortstr(String(p.expiration), 'expiration');
  }
  const messageId = p['message_id'];
  if (typeof messageId === 'string') {
    flags |= F_MESSAGE_ID;
    w.shortstr(messageId, 'message_id');
  }
  const timestamp = p['timestamp'];
  if (typeof timestamp === 'number') {
    flags |= F_TIMESTAMP;
    w.ensure(8);
    w.buf.writeBigUInt64BE(BigInt(Math.trunc(timestamp)), w.pos);
    w.pos += 8;
  }
  for (const [name, flag] of TRAILING) {
    const v = p[name];
    if (typeof v === 'string') {
      flags |= flag;
      w.shortstr(v, name);
    }
  }
  w.buf.writeUInt16BE(flags, 0);
  const mandatory = overrides?.mandatory ?? true;
  return new EncodedProperties(w.copy(), mandatory, () => ({
    ...toPublishOptions(message, extraHeaders),
    ...overrides,
  }));
}

const TRAILING = [
  ['type', F_TYPE],
  ['user_id', F_USER_ID],
  ['app_id', F_APP_ID],
] as const;

/** A transient reply (an rpc:// result): content type and encoding, correlation id, expiration. */
export interface ReplyProperties {
  readonly contentType: string;
  readonly contentEncoding: string;
  readonly correlationId: string;
  readonly expiration?: string;
}

/** The properties of `ch.publish('', queue, body, { …reply, deliveryMode: 1 })`, encoded. */
export function encodeReplyProperties(reply: ReplyProperties): EncodedProperties {
  const w = writer;
  w.reset();
  w.pos = 2;
  let flags = F_CONTENT_TYPE | F_CONTENT_ENCODING | F_HEADERS | F_DELIVERY_MODE | F_CORRELATION_ID;
  w.shortstr(reply.contentType, 'contentType');
  w.shortstr(reply.contentEncoding, 'contentEncoding');
  w.ensure(5);
  w.buf.writeUInt32BE(0, w.pos); // amqplib always sends a headers table, here an empty one
  w.pos += 4;
  w.buf[w.pos++] = 1;
  w.shortstr(reply.correlationId, 'correlationId');
  if (reply.expiration !== undefined) {
    flags |= F_EXPIRATION;
    w.shortstr(reply.expiration, 'expiration');
  }
  w.buf.writeUInt16BE(flags, 0);
  return new EncodedProperties(w.copy(), false, () => ({
    contentType: reply.contentType,
    contentEncoding: reply.contentEncoding,
    correlationId: reply.correlationId,
    deliveryMode: 1,
    ...(reply.expiration === undefined ? {} : { expiration: reply.expiration }),
  }));
}

function asString(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  throw new CeleriacError(ErrorCodes.PUBLISH_FAILED, `cannot publish: ${what} must be a string`, {
    details: { what },
  });
}

function octet(w: FieldWriter, v: number, what: string): void {
  if (!(v >= 0 && v <= 255)) {
    throw new CeleriacError(
      ErrorCodes.PUBLISH_FAILED,
      `cannot publish: ${what} must be a number from 0 to 255, got ${String(v)}`,
      { details: { what } },
    );
  }
  w.u8(v);
}

// ---------------------------------------------------------------------------------------------
// Writing: the frames of a basic.publish, given encoded properties.

/** What `publishEncoded` hands amqplib's `Channel.sendMessage` in place of its `fields`. */
export class Frames {
  constructor(
    /** The method and content header frames, and the body frame too unless `body` is set. */
    readonly head: Buffer,
    /** A body larger than one frame, left to amqplib's `sendContent` to split. */
    readonly body: Buffer | undefined,
  ) {}
}

/** The parts of amqplib 0.10's channel and connection this module relies on. */
interface ChannelInternals {
  ch: number;
  connection: ConnectionInternals;
  sendMessage(fields: unknown, properties: unknown, content: Buffer): boolean;
  pushConfirmCallback(cb: (err: unknown) => void): void;
}
interface ConnectionInternals {
  frameMax: number;
  sentSinceLastCheck: boolean;
  channels: ({ buffer: { write(chunk: Buffer): boolean } } | null)[];
  sendMessage: (...args: unknown[]) => boolean;
  sendContent(channel: number, body: Buffer): boolean;
  [PATCHED]?: true;
}

const PATCHED = Symbol('celeriac.publishFrames');
/** A message this big (frames included) is written in one buffer when its body fits a frame. */
const ONE_BUFFER_MAX = 65_536;

/** True when the channel is an amqplib 0.10 channel whose internals `publishEncoded` uses. */
export function supportsEncodedPublish(ch: Channel): boolean {
  const c = ch as unknown as Partial<ChannelInternals>;
  const conn = c.connection as Partial<ConnectionInternals> | undefined;
  return (
    typeof c.ch === 'number' &&
    typeof c.sendMessage === 'function' &&
    typeof c.pushConfirmCallback === 'function' &&
    conn !== undefined &&
    typeof conn.frameMax === 'number' &&
    typeof conn.sendMessage === 'function' &&
    typeof conn.sendContent === 'function' &&
    Array.isArray(conn.channels)
  );
}

/**
 * `ch.publish(exchange, routingKey, content, <props>, confirm)` with pre-encoded properties:
 * the frames are built here and go out through amqplib's own `Channel.sendMessage`, so a
 * closing or closed channel or connection throws as it would on `publish`, and the frames take
 * amqplib's usual way to the socket (the channel's write buffer, its backpressure, heartbeats).
 * Returns what `publish` returns (false: wait for `drain`). `confirm`, on a confirm channel,
 * is called with RabbitMQ's ack (null) or nack, as `publish`'s callback is.
 */
export function publishEncoded(
  ch: Channel,
  exchange: string,
  routingKey: string,
  content: Buffer,
  props: EncodedProperties,
  confirm?: (err: unknown) => void,
): boolean {
  if (!supportsEncodedPublish(ch)) {
    const options = props.fallback();
    if (confirm === undefined) return ch.publish(exchange, routingKey, content, options);
    return (ch as unknown as { publish: ConfirmPublish }).publish(
      exchange,
      routingKey,
      content,
      options,
      confirm,
    );
  }
  const c = ch as unknown as ChannelInternals;
  patch(c.connection);
  // Built (and checked) before the confirm callback is queued: a throw must not leave a
  // callback without a message, or every later confirm would be matched to the wrong one.
  const frames = buildFrames(c.ch, c.connection.frameMax, exchange, routingKey, content, props);
  if (confirm !== undefined) c.pushConfirmCallback(confirm);
  return c.sendMessage(frames, props, content);
}

type ConfirmPublish = (
  exchange: string,
  routingKey: string,
  content: Buffer,
  options: Options.Publish,
  cb: (err: unknown) => void,
) => boolean;

/** Lets the connection's `sendMessage` write a `Frames` as it is; anything else goes on to amqplib. */
function patch(conn: ConnectionInternals): void {
  if (conn[PATCHED]) return;
  conn[PATCHED] = true;
  const original = conn.sendMessage;
  conn.sendMessage = function (this: ConnectionInternals, ...args: unknown[]): boolean {
    const frames = args[2];
    if (!(frames instanceof Frames)) return original.apply(this, args);
    const channel = args[0] as number;
    const out = this.channels[channel]!.buffer;
    this.sentSinceLastCheck = true;
    if (frames.body === undefined) return out.write(frames.head);
    out.write(frames.head);
    return this.sendContent(channel, frames.body);
  };
}

const FRAME_END = 0xce;

/** basic.publish's method frame, the content header frame and (when it fits) the body frame. */
export function buildFrames(
  channel: number,
  frameMax: number,
  exchange: string,
  routingKey: string,
  content: Buffer,
  props: EncodedProperties,
): Frames {
  const exLen = Buffer.byteLength(exchange);
  const rkLen = Buffer.byteLength(routingKey);
  if (exLen > 255 || rkLen > 255) {
    throw new CeleriacError(
      ErrorCodes.PUBLISH_FAILED,
      `cannot publish: the ${exLen > 255 ? 'exchange' : 'routing key'} is longer than 255 bytes`,
    );
  }
  const methodLen = 17 + exLen + rkLen;
  const headerLen = 20 + props.bytes.length;
  const oneFrame = content.length <= frameMax - 8;
  const bodyLen = content.length === 0 ? 0 : content.length + 8;
  const inline = bodyLen === 0 || (oneFrame && methodLen + headerLen + bodyLen <= ONE_BUFFER_MAX);
  const b = Buffer.allocUnsafe(methodLen + headerLen + (inline ? bodyLen : 0));
  // Method frame: type 1, channel, size, class 60 / method 40, ticket 0, exchange, routing key, bits.
  b[0] = 1;
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(methodLen - 8, 3);
  b.writeUInt32BE(0x003c0028, 7);
  b.writeUInt16BE(0, 11);
  let o = 13;
  b[o++] = exLen;
  o += b.write(exchange, o, exLen, 'utf8');
  b[o++] = rkLen;
  o += b.write(routingKey, o, rkLen, 'utf8');
  b[o++] = props.mandatory ? 1 : 0;
  b[o++] = FRAME_END;
  // Content header frame: type 2, channel, size, class 60, weight 0, body size, properties.
  b[o] = 2;
  b.writeUInt16BE(channel, o + 1);
  b.writeUInt32BE(headerLen - 8, o + 3);
  b.writeUInt32BE(0x003c0000, o + 7);
  b.writeBigUInt64BE(BigInt(content.length), o + 11);
  props.bytes.copy(b, o + 19);
  o += headerLen;
  b[o - 1] = FRAME_END;
  if (!inline) return new Frames(b, content);
  if (bodyLen > 0) {
    b[o] = 3;
    b.writeUInt16BE(channel, o + 1);
    b.writeUInt32BE(content.length, o + 3);
    content.copy(b, o + 7);
    b[o + 7 + content.length] = FRAME_END;
  }
  return new Frames(b, undefined);
}
