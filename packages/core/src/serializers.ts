import { Packr } from 'msgpackr';
import { CeleriacError, ErrorCodes } from './errors.js';
import {
  mayNeedLosslessParse,
  needsRawNumber,
  parseJsonLossless,
  rawNumberMark,
  restoreRawTokens,
} from './json-text.js';

/**
 * A serializer turns task bodies and results into bytes and back. Celery names them by a
 * short name (`json`, `msgpack`) and puts the content type and encoding on the message;
 * decoding is chosen by content type, so a worker accepts either whatever the sender used.
 */
export interface Serializer {
  readonly name: SerializerName;
  readonly contentType: string;
  readonly contentEncoding: string;
  encode(value: unknown): Buffer;
  decode(data: Uint8Array): unknown;
}

export type SerializerName = 'json' | 'msgpack';

/**
 * Python's `datetime.isoformat()` for a UTC instant: microseconds only when non-zero and an
 * explicit `+00:00` offset, which every Celery and kombu version parses.
 */
export function toIsoWithOffset(date: Date): string {
  // A worker stamps every result with the time it finished; many finish in the same
  // millisecond, so the last one written is kept.
  const ms = date.getTime();
  if (ms === lastIso.ms) return lastIso.text;
  const text = formatIsoWithOffset(date);
  lastIso = { ms, text };
  return text;
}

let lastIso = { ms: Number.NaN, text: '' };

function formatIsoWithOffset(date: Date): string {
  const iso = date.toISOString(); // 2026-01-02T03:04:05.678Z
  // Years beyond 9999 (or before 0) widen the text; only the end is fixed.
  const dot = iso.length - 5;
  return date.getUTCMilliseconds() === 0
    ? `${iso.slice(0, dot)}+00:00`
    : `${iso.slice(0, dot + 4)}000+00:00`;
}

/**
 * Parses the ISO-8601 forms Celery sends (`2026-01-02T03:04:05.678901+01:00`, `...Z`, and
 * naive timestamps, which Celery means as UTC). Returns null when the text is not a date.
 */
export function parseIsoDate(text: string): Date | null {
  const m =
    /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/.exec(
      text,
    );
  if (!m) return null;
  const frac = m[3] ? `.${m[3].slice(0, 3).padEnd(3, '0')}` : '';
  const zone = m[4] ?? 'Z';
  const d = new Date(`${m[1]}T${m[2]}${frac}${zone}`);
  return Number.isNaN(d.getTime()) ? null : d;
}

function serializationError(message: string, cause?: unknown): CeleriacError {
  return new CeleriacError(ErrorCodes.SERIALIZATION, message, { cause });
}

/* ----------------------------------- JSON ----------------------------------- */

function jsonReplacer(this: unknown, key: string, value: unknown): unknown {
  // JSON.stringify calls Date#toJSON before the replacer; read the raw value instead.
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Date) return toIsoWithOffset(raw);
  // Python's json writes integers of any size and NaN / Infinity as bare tokens; so do we.
  if (typeof value === 'bigint') return rawNumberMark(value);
  if (typeof value === 'number' && needsRawNumber(value)) return rawNumberMark(value);
  // Read the raw value here too: Buffer#toJSON has already turned a Buffer into
  // {type: 'Buffer', data: [...]} by the time the replacer sees `value`.
  if (raw instanceof Uint8Array) {
    // kombu 5.2 decodes bytes as utf-8 text; binary that is not text needs msgpack.
    const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
    if (Buffer.byteLength(text) !== raw.byteLength || text.includes('\uFFFD')) {
      throw serializationError(
        `binary data at "${key}" is not utf-8 and cannot travel as JSON; use the msgpack serializer`,
      );
    }
    return text;
  }
  if (typeof value === 'function' || typeof value === 'symbol') {
    // JSON.stringify would drop it silently; a lost value must be an error, not a gap.
    throw serializationError(
      `a ${typeof value} at "${key}" cannot be serialized; return plain data`,
    );
  }
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

/**
 * kombu's uuid marker carries an object, not a string: `{"hex": "<32 hex digits>"}` (kombu
 * 5.3.0-5.3.3 add `"version"`). Returns the canonical `8-4-4-4-12` form, or null.
 */
function uuidFromMarker(inner: unknown): string | null {
  const hex =
    typeof inner === 'string'
      ? inner.replace(/-/g, '')
      : typeof inner === 'object' && inner !== null
        ? (inner as Record<string, unknown>)['hex']
        : undefined;
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{32}$/.test(hex)) return null;
  const h = hex.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * kombu ≥ 5.3 wraps non-JSON types as `{"__type__": t, "__value__": v}`. datetimes become
 * `Date`; bytes become `Buffer`; date, time, decimal and uuid stay strings (a JS number would
 * lose a decimal's precision and JS has no date-only type).
 */
function kombuReviver(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return reviveKombuMarker(value);
}

function reviveKombuMarker(value: object): unknown {
  const v = value as Record<string, unknown>;
  const type = v['__type__'];
  if (typeof type !== 'string' || !('__value__' in v) || Object.keys(v).length !== 2) return value;
  const inner = v['__value__'];
  if (type === 'uuid') return uuidFromMarker(inner) ?? value;
  if (typeof inner !== 'string') return value;
  switch (type) {
    case 'datetime':
      return parseIsoDate(inner) ?? inner;
    case 'bytes':
      return Buffer.from(inner, 'utf8');
    case 'base64':
      return Buffer.from(inner, 'base64');
    case 'date':
    case 'time':
    case 'decimal':
      return inner;
    default:
      return value;
  }
}

/**
 * True when `JSON.stringify` alone writes what `jsonReplacer` would: only strings, finite
 * numbers, booleans, null and undefined, in arrays and plain objects without `toJSON`.
 * The replacer takes V8 off its fast path for every value; task arguments and results are
 * nearly always plain, and checking is cheaper than the slow path.
 */
function isPlainJson(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object') {
    const t = typeof value;
    if (t === 'number') return !needsRawNumber(value as number);
    return t !== 'bigint' && t !== 'function' && t !== 'symbol';
  }
  if (depth > 32) return false; // deep, or a cycle: the replacer path reports it
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Array.prototype) {
    const list = value as unknown[];
    for (let i = 0; i < list.length; i++) if (!isPlainJson(list[i], depth + 1)) return false;
    return true;
  }
  if ((proto !== Object.prototype && proto !== null) || 'toJSON' in value) return false;
  const record = value as Record<string, unknown>;
  for (const key in record) if (!isPlainJson(record[key], depth + 1)) return false;
  return true;
}

function encodeJsonText(value: unknown): string {
  try {
    if (isPlainJson(value, 0)) return JSON.stringify(value);
    return restoreRawTokens(JSON.stringify(value, jsonReplacer));
  } catch (err) {
    if (err instanceof CeleriacError) throw err;
    throw serializationError(`cannot encode value as JSON: ${(err as Error).message}`, err);
  }
}

/** The JSON serializer, which can also hand out its text before it becomes bytes. */
export interface JsonSerializer extends Serializer {
  readonly name: 'json';
  /**
   * `encode` without the final step to bytes. A Redis client writes a string argument
   * straight into its command buffer; a Buffer argument costs it a copy into a second one.
   */
  encodeText(value: unknown): string;
}

export const jsonSerializer: JsonSerializer = {
  name: 'json',
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  encode(value) {
    return Buffer.from(encodeJsonText(value), 'utf8');
  },
  encodeText: encodeJsonText,
  decode(data) {
    const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
    const markers = text.includes('"__type__"');
    // Integers beyond 2^53 and Python's NaN / Infinity need the lossless reader.
    if (mayNeedLosslessParse(text)) {
      return parseJsonLossless(text, markers ? reviveKombuMarker : undefined);
    }
    // A reviver slows JSON.parse severalfold; only pay for it when a marker is present.
    return (markers ? JSON.parse(text, kombuReviver) : JSON.parse(text)) as unknown;
  },
};

/* ---------------------------------- msgpack --------------------------------- */

// Plain msgpack as Python's msgpack reads it: maps, no records extension, no JS-only types.
// int64AsType 'auto' (numbers up to 2^53, BigInt beyond) is supported at run time but
// missing from msgpackr's typings.
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  encodeUndefinedAsNil: true,
  int64AsType: 'auto' as 'bigint',
  largeBigIntToString: false,
});

/**
 * Dates go as ISO strings (as Celery's msgpack sends them); Maps and Sets as maps and arrays.
 * msgpackr writes an integer outside 32 bits as a float64, which Python reads as a float
 * (`1767323045678.0`); such integers go as BigInt so they travel as msgpack int64.
 */
function toPlain(value: unknown): unknown {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && (value > 0xffffffff || value < -0x80000000)
      ? BigInt(value)
      : value;
  }
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return toIsoWithOffset(value);
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const plain = toPlain(item);
      if (plain !== item) {
        out ??= value.slice();
        out[i] = plain;
      }
    }
    return out ?? value;
  }
  if (value instanceof Map) return toPlain(Object.fromEntries(value));
  if (value instanceof Set) return toPlain([...value]);
  const rec = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const k of Object.keys(rec)) {
    const item = rec[k];
    const plain = toPlain(item);
    if (plain !== item) {
      out ??= { ...rec };
      out[k] = plain;
    }
  }
  return out ?? value;
}

export const msgpackSerializer: Serializer = {
  name: 'msgpack',
  contentType: 'application/x-msgpack',
  contentEncoding: 'binary',
  encode(value) {
    try {
      return packr.pack(toPlain(value));
    } catch (err) {
      throw serializationError(`cannot encode value as msgpack: ${(err as Error).message}`, err);
    }
  },
  decode(data) {
    return packr.unpack(data) as unknown;
  },
};

const byName: Readonly<Record<SerializerName, Serializer>> = {
  json: jsonSerializer,
  msgpack: msgpackSerializer,
};

const byContentType = new Map<string, Serializer>([
  ['application/json', jsonSerializer],
  ['application/x-msgpack', msgpackSerializer],
  ['application/msgpack', msgpackSerializer],
  ['application/x-msgpack; charset=binary', msgpackSerializer],
]);

export function serializerByName(name: SerializerName): Serializer {
  const s = byName[name] as Serializer | undefined;
  if (!s) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `unknown serializer "${String(name)}": use "json" or "msgpack"`,
      { details: { option: 'serializer', value: name, expected: '"json" or "msgpack"' } },
    );
  }
  return s;
}

export function serializerForContentType(contentType: string): Serializer {
  const s = byContentType.get(contentType.trim().toLowerCase());
  if (!s) {
    throw new CeleriacError(
      ErrorCodes.UNSUPPORTED_CONTENT_TYPE,
      `content type "${contentType}" is not supported: send tasks as application/json or application/x-msgpack (Celery's "pickle" and "yaml" are refused)`,
      { details: { contentType } },
    );
  }
  return s;
}
