import { CeleriacError, ErrorCodes } from '@celeriac/core';

/**
 * Writes AMQP field tables and the short strings of frames straight into a reusable buffer,
 * with the types `encodeFieldValue` (codec.ts) chooses, so that the bytes are exactly those
 * amqplib would write for `encodeTable(value)`: integers as a signed 32-bit `I` (larger positive
 * safe ones as `l`, anything else as `d`), strings as long strings `S`, `null`/`undefined` as
 * `V`, booleans `t`, bytes `x`, Dates as ISO strings, arrays `A`, objects `F`. amqplib first
 * builds a typed copy of every table and then walks it again with type guessing; here each
 * value is written once, without the copy.
 *
 * The keys of a table and the strings that repeat from message to message (Celery's `lang`,
 * `origin`, `argsrepr` `()` …) are kept encoded in small caches: most of a task's headers are
 * copied, not encoded.
 */
export class FieldWriter {
  buf: Buffer;
  pos = 0;

  constructor(size = 4096) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Starts a new piece of output at offset 0. */
  reset(): void {
    this.pos = 0;
  }

  /** Room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** A copy of what was written since `start` (a buffer of its own: the writer is reused). */
  copy(start = 0): Buffer {
    const out = Buffer.allocUnsafe(this.pos - start);
    this.buf.copy(out, 0, start, this.pos);
    return out;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  /** A short string (length byte, UTF-8): a property or a frame field; `what` names it in errors. */
  shortstr(s: string, what: string): void {
    this.ensure(1 + s.length * 3);
    const len = this.#utf8(s, this.pos + 1);
    if (len > 255) throw tooLong(what, len);
    this.buf[this.pos] = len;
    this.pos += 1 + len;
  }

  /** A field table's key: cached, as the same few keys come in every message. */
  key(k: string): void {
    let enc = keyCache.get(k);
    if (enc === undefined) {
      const len = Buffer.byteLength(k);
      if (len > 255) throw tooLong(`header name ${JSON.stringify(k.slice(0, 40))}…`, len);
      enc = Buffer.allocUnsafe(1 + len);
      enc[0] = len;
      enc.write(k, 1, 'utf8');
      if (keyCache.size >= CACHE_LIMIT) keyCache.clear();
      keyCache.set(k, enc);
    }
    this.#bytes(enc);
  }

  /** A table: its entries in the object's own order, `undefined` ones left out. */
  table(obj: Readonly<Record<string, unknown>>): void {
    this.ensure(4);
    const start = this.pos;
    this.pos += 4;
    for (const k in obj) {
      if (!Object.prototype.hasOwnProperty.call(obj, k)) continue;
      const v = obj[k];
      if (v === undefined) continue;
      this.key(k);
      this.value(v, k);
    }
    this.buf.writeUInt32BE(this.pos - start - 4, start);
  }

  /** One tagged value; `key` is the table key it is under, which picks its string cache. */
  value(v: unknown, key?: string): void {
    switch (typeof v) {
      case 'string':
        this.#string(v, key);
        return;
      case 'boolean':
        this.ensure(2);
        this.buf[this.pos++] = T_BOOL;
        this.buf[this.pos++] = v ? 1 : 0;
        return;
      case 'number':
        this.#number(v);
        return;
      case 'bigint':
        if (Number.isSafeInteger(Number(v))) this.#number(Number(v));
        else this.#string(v.toString());
        return;
      case 'undefined':
        this.u8(T_VOID);
        return;
      case 'object':
        this.#object(v);
        return;
      default:
        this.#string(String(v));
    }
  }

  #object(v: object | null): void {
    if (v === null) {
      this.u8(T_VOID);
    } else if (v instanceof Uint8Array) {
      this.ensure(5 + v.length);
      this.buf[this.pos] = T_BYTES;
      this.buf.writeUInt32BE(v.length, this.pos + 1);
      this.buf.set(v, this.pos + 5);
      this.pos += 5 + v.length;
    } else if (v instanceof Date) {
      this.#string(v.toISOString());
    } else if (Array.isArray(v)) {
      this.ensure(5);
      this.buf[this.pos] = T_ARRAY;
      const start = this.pos + 1;
      this.pos += 5;
      for (const item of v as unknown[]) this.value(item);
      this.buf.writeUInt32BE(this.pos - start - 4, start);
    } else {
      this.u8(T_TABLE);
      this.table(v as Record<string, unknown>);
    }
  }

  #number(v: number): void {
    this.ensure(9);
    const b = this.buf;
    if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) {
      b[this.pos] = T_INT;
      b.writeInt32BE(v, this.pos + 1);
      this.pos += 5;
    } else if (Number.isSafeInteger(v) && v > 0) {
      b[this.pos] = T_LONG;
      b.writeBigInt64BE(BigInt(v), this.pos + 1);
      this.pos += 9;
    } else {
      b[this.pos] = T_DOUBLE;
      b.writeDoubleBE(v, this.pos + 1);
      this.pos += 9;
    }
  }

  /**
   * A long string. Under a key, the last value seen under that key is kept encoded while it
   * keeps coming back: a header whose value repeats (most of Celery's) is one comparison and
   * one copy. A key whose value changes every time (`id`) soon stops being copied out.
   */
  #string(s: string, key?: string): void {
    if (key === undefined || s.length > CACHED_STRING_MAX) {
      this.#longstr(s);
      return;
    }
    let hit = valueCache.get(key);
    if (hit !== undefined && hit.value === s && hit.encoded !== undefined) {
      if (hit.score < SCORE_MAX) hit.score++;
      this.#bytes(hit.encoded);
      return;
    }
    const start = this.pos;
    this.#longstr(s);
    if (hit === undefined) {
      if (valueCache.size >= CACHE_LIMIT) valueCache.clear();
      hit = { value: s, encoded: undefined, score: 0 };
      valueCache.set(key, hit);
    } else if (hit.value === s) {
      hit.score++;
    } else {
      hit.value = s;
      hit.score = Math.max(hit.score - 1, SCORE_MIN);
    }
    hit.encoded = hit.score >= 0 ? this.copy(start) : undefined;
  }

  #longstr(s: string): void {
    this.ensure(5 + s.length * 3);
    const len = this.#utf8(s, this.pos + 5);
    this.buf[this.pos] = T_STRING;
    this.buf.writeUInt32BE(len, this.pos + 1);
    this.pos += 5 + len;
  }

  #bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  /** Writes `s` as UTF-8 at `at` (room for 3 bytes per UTF-16 unit was ensured); its byte length. */
  #utf8(s: string, at: number): number {
    const b = this.buf;
    const n = s.length;
    if (n > 64) return b.write(s, at, 'utf8');
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return b.write(s, at, 'utf8');
      b[at + i] = c;
    }
    return n;
  }
}

const T_BOOL = 0x74; // t
const T_VOID = 0x56; // V
const T_BYTES = 0x78; // x
const T_ARRAY = 0x41; // A
const T_TABLE = 0x46; // F
const T_INT = 0x49; // I
const T_LONG = 0x6c; // l
const T_DOUBLE = 0x64; // d
const T_STRING = 0x53; // S

/** Entries per cache; a cache that fills up starts again (keys are few, values repeat or not). */
const CACHE_LIMIT = 512;
/** Longer strings (an `argsrepr` of real arguments) rarely repeat: not worth a copy. */
const CACHED_STRING_MAX = 128;
const keyCache = new Map<string, Buffer>();
const valueCache = new Map<string, { value: string; encoded: Buffer | undefined; score: number }>();
/** A cached value's score: up by one per repeat, down by one per change; copied out while >= 0. */
const SCORE_MAX = 16;
const SCORE_MIN = -16;

function tooLong(what: string, bytes: number): CeleriacError {
  return new CeleriacError(
    ErrorCodes.PUBLISH_FAILED,
    `cannot publish: ${what} is ${bytes} bytes long, AMQP allows at most 255`,
    { details: { what, bytes } },
  );
}
