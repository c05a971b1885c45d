import { createConnection } from 'node:net';

/** A RESP2 reply: simple and bulk strings, integers, arrays, null; an error reply rejects. */
export type RespValue = string | number | null | RespValue[];

/**
 * Reads one RESP2 value from `buf` at `at`: the value and where the next one starts, or
 * undefined when the buffer does not hold all of it yet.
 */
function parse(buf: Buffer, at: number): { value: RespValue | Error; end: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('utf8', at + 1, eol);
  switch (type) {
    case '+':
      return { value: line, end: eol + 2 };
    case '-':
      return { value: new Error(line), end: eol + 2 };
    case ':':
      return { value: Number(line), end: eol + 2 };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: eol + 2 };
      if (buf.length < eol + 2 + len + 2) return undefined;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + len), end: eol + 2 + len + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      const items: RespValue[] = [];
      let end = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, end);
        if (!item) return undefined;
        if (item.value instanceof Error) return item;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      return { value: new Error(`not a RESP reply: ${line}`), end: eol + 2 };
  }
}

/**
 * Sends one command to a Redis (or Sentinel) on 127.0.0.1 over a connection of its own and
 * returns its reply: what the test servers' readiness checks need, without a client library
 * in this package. Rejects on an error reply, a refused connection or `timeoutMs`.
 */
export function respCommand(
  port: number,
  args: readonly string[],
  timeoutMs = 2000,
): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const finish = (err: Error | undefined, value?: RespValue): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value ?? null);
    };
    const timer = setTimeout(
      () => finish(new Error(`${args.join(' ')} on port ${port}: no reply in ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('error', (err) => finish(err));
    socket.once('connect', () => {
      let out = `*${args.length}\r\n`;
      for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
      socket.write(out);
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const r = parse(buf, 0);
      if (!r) return;
      if (r.value instanceof Error) finish(r.value);
      else finish(undefined, r.value);
    });
  });
}

/** `INFO <section>` as a map of its `key:value` lines. */
export async function respInfo(port: number, section: string): Promise<Map<string, string>> {
  const text = await respCommand(port, ['INFO', section]);
  const map = new Map<string, string>();
  for (const line of String(text).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) map.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return map;
}
