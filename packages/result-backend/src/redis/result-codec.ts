import {
  CeleriacError,
  ErrorCodes,
  jsonSerializer,
  msgpackSerializer,
  type ResultDocument,
  type SerializerName,
} from '@celeriac/core';
import { isResultDocument } from '../result-document.js';

/**
 * How a result document is stored at `celery-task-meta-<id>` and published on its channel.
 * Celery writes the bytes of its `result_serializer` (`BaseBackend.encode`) and reads every
 * value with that same serializer; Celeriac reads either, whatever it writes, so a Node
 * client reads what a Python worker with `result_serializer='msgpack'` stores and the reverse.
 *
 * Telling them apart by the first byte is unambiguous. A result document is a map. Python's
 * json writes it as an object, `{` (0x7b), never with a byte-order mark, and JSON allows only
 * space, tab, LF and CR (0x20, 0x09, 0x0a, 0x0d) before it. msgpack writes a map as fixmap
 * (0x80–0x8f), map16 (0xde) or map32 (0xdf). No byte is in both sets: the JSON ones are
 * msgpack positive fixints (a bare integer, never a document), and in UTF-8 0x80–0xbf are
 * continuation bytes and 0xde / 0xdf lead bytes, which cannot start a JSON text. Anything
 * else is neither, and is refused rather than guessed at.
 */
export type ResultFormat = 'json' | 'msgpack';

/** The format of a stored or published document by its first byte; undefined when neither. */
export function resultFormat(payload: Uint8Array): ResultFormat | undefined {
  for (let i = 0; i < payload.length; i++) {
    const b = payload[i]!;
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    if (b === 0x7b) return 'json';
    // Whitespace then a map byte is neither: msgpack has no leading whitespace.
    if (i === 0 && ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf)) return 'msgpack';
    return undefined;
  }
  return undefined;
}

/**
 * The bytes (JSON as text: a Redis client writes a string argument without copying it) a
 * document is stored and published as.
 */
export function encodeResult(doc: ResultDocument, serializer: SerializerName): string | Buffer {
  return serializer === 'msgpack' ? msgpackSerializer.encode(doc) : jsonSerializer.encodeText(doc);
}

/** Decodes a stored or published document, JSON or msgpack; `CELERIAC_ERR_SERIALIZATION` else. */
export function decodeResult(payload: Buffer, key: string): ResultDocument {
  const format = resultFormat(payload);
  if (format === undefined) {
    throw new CeleriacError(
      ErrorCodes.SERIALIZATION,
      `the value at ${key} is neither a JSON object nor a msgpack map; Celeriac reads results stored with Celery's json or msgpack result_serializer`,
      { details: { key } },
    );
  }
  let value: unknown;
  try {
    value = (format === 'json' ? jsonSerializer : msgpackSerializer).decode(payload);
  } catch (err) {
    throw new CeleriacError(
      ErrorCodes.SERIALIZATION,
      `the result at ${key} looks like ${format} but does not decode: ${(err as Error).message}`,
      { cause: err, details: { key, format } },
    );
  }
  if (!isResultDocument(value)) {
    throw new CeleriacError(
      ErrorCodes.SERIALIZATION,
      `the value at ${key} is not a Celery result document (no "status")`,
      { details: { key } },
    );
  }
  // Celery writes `children: null` when it stores outside a task (store_result without a
  // request); the contract's documents always carry a list.
  if (!Array.isArray(value.children)) value.children = [];
  return value;
}

/** A group document (`GroupResult.save()`), in the backend's serializer. */
export function encodeGroup(doc: unknown, serializer: SerializerName): string | Buffer {
  return serializer === 'msgpack' ? msgpackSerializer.encode(doc) : jsonSerializer.encodeText(doc);
}

/** Decodes a group document, JSON or msgpack by its first byte; undefined when it is neither. */
export function decodeGroup(payload: Buffer): unknown {
  const format = resultFormat(payload);
  if (format === undefined) return undefined;
  try {
    return (format === 'json' ? jsonSerializer : msgpackSerializer).decode(payload);
  } catch {
    return undefined;
  }
}
