/**
 * JSON as Python's `json` module writes and reads it, where that differs from JavaScript's:
 *
 * - integers of any size (`2**64` is `18446744073709551616` on the wire); `JSON.parse` rounds
 *   one beyond 2^53 to the nearest double, silently corrupting it;
 * - the bare tokens `NaN`, `Infinity` and `-Infinity`, which `json.dumps` writes for floats
 *   (its default `allow_nan=True`) and `JSON.parse` refuses.
 *
 * Reading: an integer that a double cannot hold exactly becomes a `BigInt`; every other number
 * stays a `number`, as `JSON.parse` gives it. Writing: a `BigInt` beyond 2^53 is written as its
 * digits and a non-finite number as Python's token, so Python reads back the value it sent.
 *
 * `JSON.parse` stays the reader whenever the text cannot hold either case (no run of 16 digits,
 * no `NaN`, no `Infinity`): a single regular-expression test, which keeps the hot path as fast
 * as before. Node 20's `JSON.parse` offers no access to a number's source text, hence the
 * small parser below for the rest.
 */

const MAYBE_LOSSY = /\d{16}|NaN|Infinity/;

/** True when `JSON.parse` might misread `text` (see the module comment). */
export function mayNeedLosslessParse(text: string): boolean {
  return MAYBE_LOSSY.test(text);
}

/**
 * Parses JSON text as Python's `json.loads` does, integers of any size and NaN / Infinity
 * included. `revive`, when given, is called on every object after its members were read,
 * innermost first, and its return value takes the object's place (as a `JSON.parse` reviver
 * that only looks at objects). Throws `SyntaxError` on text that is not JSON.
 */
export function parseJsonLossless(text: string, revive?: (value: object) => unknown): unknown {
  const parser = new LosslessParser(text, revive);
  const value = parser.value();
  parser.end();
  return value;
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const PLAIN_STRING = /[^"\\\u0000-\u001f]*"/y;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

class LosslessParser {
  #pos = 0;
  readonly #text: string;
  readonly #revive: ((value: object) => unknown) | undefined;

  constructor(text: string, revive: ((value: object) => unknown) | undefined) {
    this.#text = text;
    this.#revive = revive;
  }

  value(): unknown {
    this.#skipSpace();
    const c = this.#text.charCodeAt(this.#pos);
    switch (c) {
      case 0x7b /* { */:
        return this.#object();
      case 0x5b /* [ */:
        return this.#array();
      case 0x22 /* " */:
        return this.#string();
      case 0x74 /* t */:
        return this.#literal('true', true);
      case 0x66 /* f */:
        return this.#literal('false', false);
      case 0x6e /* n */:
        return this.#literal('null', null);
      case 0x4e /* N */:
        return this.#literal('NaN', Number.NaN);
      case 0x49 /* I */:
        return this.#literal('Infinity', Number.POSITIVE_INFINITY);
      default:
        if (c === 0x2d /* - */ && this.#text.startsWith('-Infinity', this.#pos)) {
          return this.#literal('-Infinity', Number.NEGATIVE_INFINITY);
        }
        return this.#number();
    }
  }

  end(): void {
    this.#skipSpace();
    if (this.#pos < this.#text.length) this.#fail('unexpected text after the JSON value');
  }

  #object(): unknown {
    this.#pos++; // {
    const out: Record<string, unknown> = {};
    this.#skipSpace();
    if (this.#text.charCodeAt(this.#pos) === 0x7d /* } */) {
      this.#pos++;
      return this.#revived(out);
    }
    for (;;) {
      this.#skipSpace();
      if (this.#text.charCodeAt(this.#pos) !== 0x22) this.#fail('expected a string key');
      const key = this.#string();
      this.#skipSpace();
      if (this.#text.charCodeAt(this.#pos) !== 0x3a /* : */) this.#fail("expected ':'");
      this.#pos++;
      const item = this.value();
      // JSON.parse makes "__proto__" an own property; plain assignment would set the prototype.
      if (key === '__proto__') {
        Object.defineProperty(out, key, {
          value: item,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      } else {
        out[key] = item;
      }
      this.#skipSpace();
      const c = this.#text.charCodeAt(this.#pos++);
      if (c === 0x7d /* } */) return this.#revived(out);
      if (c !== 0x2c /* , */) this.#fail("expected ',' or '}'", this.#pos - 1);
    }
  }

  #array(): unknown[] {
    this.#pos++; // [
    const out: unknown[] = [];
    this.#skipSpace();
    if (this.#text.charCodeAt(this.#pos) === 0x5d /* ] */) {
      this.#pos++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.#skipSpace();
      const c = this.#text.charCodeAt(this.#pos++);
      if (c === 0x5d /* ] */) return out;
      if (c !== 0x2c /* , */) this.#fail("expected ',' or ']'", this.#pos - 1);
    }
  }

  #string(): string {
    const start = this.#pos; // at the opening quote
    PLAIN_STRING.lastIndex = start + 1;
    if (PLAIN_STRING.test(this.#text)) {
      this.#pos = PLAIN_STRING.lastIndex;
      return this.#text.slice(start + 1, this.#pos - 1);
    }
    // Escapes or control characters: find the closing quote, let JSON.parse read the rest.
    let i = start + 1;
    for (;;) {
      const c = this.#text.charCodeAt(i);
      if (Number.isNaN(c)) this.#fail('unterminated string', start);
      if (c === 0x5c /* \ */) i += 2;
      else if (c === 0x22) break;
      else i++;
    }
    this.#pos = i + 1;
    try {
      return JSON.parse(this.#text.slice(start, this.#pos)) as string;
    } catch {
      return this.#fail('invalid string', start);
    }
  }

  #number(): number | bigint {
    NUMBER.lastIndex = this.#pos;
    const m = NUMBER.exec(this.#text);
    if (!m) return this.#fail('unexpected character');
    this.#pos = NUMBER.lastIndex;
    const source = m[0];
    const n = Number(source);
    if (m[1] !== undefined || m[2] !== undefined || Number.isSafeInteger(n)) return n;
    // An integer a double cannot tell from its neighbours: only its digits are exact.
    return BigInt(source);
  }

  #literal<T>(word: string, value: T): T {
    if (!this.#text.startsWith(word, this.#pos)) this.#fail('unexpected character');
    this.#pos += word.length;
    return value;
  }

  #revived(value: Record<string, unknown>): unknown {
    return this.#revive ? this.#revive(value) : value;
  }

  #skipSpace(): void {
    const t = this.#text;
    let i = this.#pos;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
    this.#pos = i;
  }

  #fail(what: string, at = this.#pos): never {
    throw new SyntaxError(`${what} in JSON at position ${at}`);
  }
}

/**
 * Marks a value for `JSON.stringify` to write as raw text: a string no caller can produce by
 * accident (it starts with U+0000, which `JSON.stringify` writes as `\u0000`), swapped for the
 * raw token afterwards by `restoreRawTokens`.
 */
const RAW_MARK = '\u0000celeriac:raw:';
const RAW_TOKEN = /"\\u0000celeriac:raw:(-?\d+(?:\.0)?|NaN|-?Infinity)"/g;

/**
 * True for a number `JSON.stringify` writes in a form Python reads as something else: NaN
 * and ±Infinity (written as `null`), and a double holding an integer beyond 2^53 but below
 * 10^21, which `JSON.stringify` writes as bare digits, an `int` to Python and a `BigInt` to
 * `parseJsonLossless`; it goes as `<digits>.0`, a float to both, as it was.
 */
export function needsRawNumber(n: number): boolean {
  if (n <= Number.MAX_SAFE_INTEGER && n >= -Number.MAX_SAFE_INTEGER) return false;
  return !Number.isFinite(n) || (Number.isInteger(n) && Math.abs(n) < 1e21);
}

/**
 * What the JSON replacer returns for a BigInt (which `JSON.stringify` refuses) and for a
 * number `needsRawNumber` picks: a marker that `restoreRawTokens` turns into Python's
 * spelling. A BigInt within 2^53 becomes a plain number.
 */
export function rawNumberMark(value: number | bigint): string | number {
  if (typeof value === 'bigint') {
    return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : `${RAW_MARK}${value}`;
  }
  if (Number.isFinite(value)) return `${RAW_MARK}${String(value)}.0`;
  return `${RAW_MARK}${Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity'}`;
}

/** Replaces the markers of `rawNumberMark` in `JSON.stringify` output by their raw text. */
export function restoreRawTokens(json: string): string {
  return json.includes('\\u0000celeriac:raw:') ? json.replace(RAW_TOKEN, '$1') : json;
}
