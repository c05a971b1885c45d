const ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/**
 * Python's `repr(str)`: single quotes unless the text holds a `'` and no `"`, backslash
 * escapes for the quote, `\\`, `\n`, `\r`, `\t`, and `\xNN` for other control characters and
 * U+007F-U+00A0, which Python does not print either.
 */
function strRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const body = text.replace(/[\\\n\r\t'"\x00-\x1f\x7f-\xa0]/g, (c) => {
    if (c === quote) return `\\${c}`;
    if (c === "'" || c === '"') return c;
    return ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
  return `${quote}${body}${quote}`;
}

/**
 * A Python-style `repr` of task arguments for the `argsrepr` / `kwargsrepr` headers, which
 * Flower, `celery events` and logs show. Bounded like Celery's `saferepr` (1024 characters).
 */
export function pyRepr(value: unknown, maxLength = 1024, asTuple = false): string {
  const out: string[] = [];
  let length = 0;
  let truncated = false;
  const push = (s: string): void => {
    if (truncated) return;
    if (length + s.length > maxLength) {
      out.push(s.slice(0, Math.max(0, maxLength - length)), '...');
      truncated = true;
      return;
    }
    out.push(s);
    length += s.length;
  };
  const walk = (v: unknown, tuple: boolean, depth: number): void => {
    if (truncated) return;
    if (v === null || v === undefined) return push('None');
    switch (typeof v) {
      case 'boolean':
        return push(v ? 'True' : 'False');
      case 'number':
        return push(Number.isInteger(v) ? String(v) : String(v));
      case 'bigint':
        return push(String(v));
      case 'string':
        return push(strRepr(v));
      case 'object':
        break;
      default:
        return push(`<${typeof v}>`);
    }
    if (depth > 8) return push('...');
    if (v instanceof Date) return push(`'${v.toISOString()}'`);
    if (v instanceof Uint8Array) return push(`b'<${v.byteLength} bytes>'`);
    if (Array.isArray(v)) {
      push(tuple ? '(' : '[');
      v.forEach((item, i) => {
        if (i > 0) push(', ');
        walk(item, false, depth + 1);
      });
      if (tuple && v.length === 1) push(',');
      return push(tuple ? ')' : ']');
    }
    push('{');
    Object.entries(v as Record<string, unknown>).forEach(([k, item], i) => {
      if (i > 0) push(', ');
      walk(k, false, depth + 1);
      push(': ');
      walk(item, false, depth + 1);
    });
    return push('}');
  };
  walk(value, asTuple, 0);
  return out.join('');
}

/**
 * Python's `repr()` of the exception a failure document describes (`ValueError('boom')`):
 * what Celery's chord errors name (`Dependency <id> raised ValueError('boom')`).
 */
export function excRepr(doc: unknown): string {
  if (doc === null || typeof doc !== 'object') return pyRepr(doc, Infinity);
  const { exc_type: type, exc_message: message } = doc as Record<string, unknown>;
  if (typeof type !== 'string') return pyRepr(doc, Infinity);
  const args = Array.isArray(message) ? message : message === undefined ? [] : [message];
  return `${type}(${args.map((a) => pyRepr(a, Infinity)).join(', ')})`;
}
