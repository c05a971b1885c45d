import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { CeleriacError, ErrorCodes } from './errors.js';
import { pyRepr } from './py-repr.js';
import {
  parseIsoDate,
  serializerByName,
  serializerForContentType,
  toIsoWithOffset,
  type SerializerName,
} from './serializers.js';
import { isSignatureJSON, type SignatureJSON } from './signature.js';

/**
 * What every broker carries: opaque body bytes with the content type that decodes them,
 * the AMQP-style application headers and the message properties. Brokers never look
 * inside the body; they may read `properties.priority` and `headers`.
 */
export interface BrokerMessage {
  body: Buffer;
  contentType: string;
  contentEncoding: string;
  headers: Record<string, unknown>;
  properties: MessageProperties;
}

/** Message properties as Celery sets them; unknown properties are kept. */
export interface MessageProperties {
  correlation_id?: string;
  reply_to?: string;
  delivery_mode?: number;
  priority?: number;
  /** Milliseconds, as a string, as AMQP wants it. */
  expiration?: string;
  [extra: string]: unknown;
}

/**
 * Protocol v2 task headers (DESIGN.md §3). `timelimit` is `[hard, soft]` in seconds.
 * Unknown headers are kept and travel on unchanged.
 */
export interface TaskHeaders {
  lang: string;
  task: string;
  id: string;
  shadow: string | null;
  eta: string | null;
  expires: string | null;
  group: string | null;
  group_index: number | null;
  retries: number;
  timelimit: [hard: number | null, soft: number | null];
  root_id: string | null;
  parent_id: string | null;
  argsrepr: string | null;
  kwargsrepr: string | null;
  origin: string | null;
  ignore_result: boolean;
  [extra: string]: unknown;
}

/** The third element of the body: what runs after the task. */
export interface EmbedOptions {
  callbacks: SignatureJSON[] | null;
  errbacks: SignatureJSON[] | null;
  /** Remaining chain steps in reverse order: the next one is the last element. */
  chain: SignatureJSON[] | null;
  chord: SignatureJSON | null;
}

/** A decoded protocol v2 task message. */
export interface TaskMessage {
  headers: TaskHeaders;
  properties: MessageProperties;
  args: unknown[];
  kwargs: Record<string, unknown>;
  embed: EmbedOptions;
  contentType: string;
  contentEncoding: string;
}

export interface CreateTaskMessageOptions {
  /** Registered task name: the dispatch key on the worker. */
  name: string;
  /** @default a random uuid */
  id?: string;
  args?: readonly unknown[];
  kwargs?: Readonly<Record<string, unknown>>;
  eta?: Date | null;
  expires?: Date | null;
  retries?: number;
  /** Hard time limit in seconds. */
  timeLimit?: number | null;
  /** Soft time limit in seconds. */
  softTimeLimit?: number | null;
  rootId?: string | null;
  parentId?: string | null;
  groupId?: string | null;
  groupIndex?: number | null;
  shadow?: string | null;
  ignoreResult?: boolean;
  origin?: string;
  replyTo?: string;
  priority?: number | null;
  callbacks?: SignatureJSON[] | null;
  errbacks?: SignatureJSON[] | null;
  chain?: SignatureJSON[] | null;
  chord?: SignatureJSON | null;
  /** Extra headers, sent beside Celery's. */
  headers?: Readonly<Record<string, unknown>>;
}

function isEmpty(record: Readonly<Record<string, unknown>>): boolean {
  for (const _ in record) return false;
  return true;
}

let cachedOrigin: string | undefined;
/** Celery's `anon_nodename()`: `gen<pid>@<host>`. */
export function defaultOrigin(): string {
  cachedOrigin ??= `gen${process.pid}@${hostname()}`;
  return cachedOrigin;
}

export function createTaskMessage(o: CreateTaskMessageOptions): TaskMessage {
  const id = o.id ?? randomUUID();
  const args = o.args ? [...o.args] : [];
  const kwargs = o.kwargs ? { ...o.kwargs } : {};
  const properties: MessageProperties = {
    correlation_id: id,
    reply_to: o.replyTo ?? '',
    delivery_mode: 2,
  };
  if (o.priority !== undefined && o.priority !== null) properties.priority = o.priority;
  const headers: TaskHeaders = {
    lang: 'js',
    task: o.name,
    id,
    shadow: o.shadow ?? null,
    eta: o.eta ? toIsoWithOffset(o.eta) : null,
    expires: o.expires ? toIsoWithOffset(o.expires) : null,
    group: o.groupId ?? null,
    group_index: o.groupIndex ?? null,
    retries: o.retries ?? 0,
    timelimit: [o.timeLimit ?? null, o.softTimeLimit ?? null],
    root_id: o.rootId ?? id,
    parent_id: o.parentId ?? null,
    argsrepr: args.length === 0 ? '()' : pyRepr(args, 1024, true),
    kwargsrepr: isEmpty(kwargs) ? '{}' : pyRepr(kwargs),
    origin: o.origin ?? defaultOrigin(),
    ignore_result: o.ignoreResult ?? false,
  };
  return {
    // Extra headers first, then Celery's, which win, as the spread `{...o.headers, lang, …}`
    // ordered and overrode them; without extras the object is built once.
    headers: o.headers ? { ...o.headers, ...headers } : headers,
    properties,
    args,
    kwargs,
    embed: {
      callbacks: o.callbacks ?? null,
      errbacks: o.errbacks ?? null,
      chain: o.chain ?? null,
      chord: o.chord ?? null,
    },
    contentType: 'application/json',
    contentEncoding: 'utf-8',
  };
}

/** Serializes a task message into what a broker carries. */
export function encodeTaskMessage(
  msg: TaskMessage,
  serializer: SerializerName = 'json',
): BrokerMessage {
  const s = serializerByName(serializer);
  return {
    body: s.encode([msg.args, msg.kwargs, msg.embed]),
    contentType: s.contentType,
    contentEncoding: s.contentEncoding,
    headers: msg.headers,
    properties: msg.properties,
  };
}

function malformed(field: string, problem: string, cause?: unknown): CeleriacError {
  return new CeleriacError(
    ErrorCodes.MALFORMED_MESSAGE,
    `malformed task message: ${field} ${problem}`,
    {
      cause,
      details: { field },
    },
  );
}

function optString(h: Record<string, unknown>, field: string): string | null {
  const v = h[field];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string')
    throw malformed(`header "${field}"`, `must be a string, got ${typeof v}`);
  return v;
}

function optNumber(v: unknown, field: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw malformed(field, `must be a number, got ${typeof v}`);
  }
  return v;
}

function optDateString(h: Record<string, unknown>, field: string): string | null {
  const v = h[field];
  if (v === undefined || v === null) return null;
  if (v instanceof Date) return toIsoWithOffset(v);
  if (typeof v !== 'string' || parseIsoDate(v) === null) {
    throw malformed(`header "${field}"`, `must be an ISO-8601 date, got ${JSON.stringify(v)}`);
  }
  return v;
}

function signatureList(v: unknown, field: string): SignatureJSON[] | null {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v)) throw malformed(`embed "${field}"`, 'must be a list of signatures');
  v.forEach((s, i) => {
    if (!isSignatureJSON(s)) throw malformed(`embed "${field}[${i}]"`, 'is not a signature');
  });
  return v as SignatureJSON[];
}

/**
 * Validates and decodes a protocol v2 message. The result's `headers` may be `raw.headers`
 * itself (when nothing needed normalizing): treat both as read-only. Throws a `CeleriacError` with code
 * `CELERIAC_ERR_MALFORMED_MESSAGE` naming the offending field, or
 * `CELERIAC_ERR_UNSUPPORTED_CONTENT_TYPE`.
 */
export function decodeTaskMessage(raw: BrokerMessage): TaskMessage {
  const h = raw.headers as Record<string, unknown> | null | undefined;
  if (typeof h !== 'object' || h === null) throw malformed('headers', 'are missing');
  if (typeof h['task'] !== 'string' || h['task'] === '') {
    throw malformed('header "task"', 'is missing (protocol v1 messages are not supported)');
  }
  if (typeof h['id'] !== 'string' || h['id'] === '') throw malformed('header "id"', 'is missing');

  const serializer = serializerForContentType(raw.contentType);
  let body: unknown;
  try {
    body = serializer.decode(raw.body);
  } catch (err) {
    throw malformed(
      'body',
      `cannot be decoded as ${raw.contentType}: ${(err as Error).message}`,
      err,
    );
  }
  if (!Array.isArray(body) || body.length < 2 || body.length > 3) {
    throw malformed('body', 'must be [args, kwargs, embed]');
  }
  const [args, kwargs, embedRaw] = body as [unknown, unknown, unknown];
  if (!Array.isArray(args)) throw malformed('body args', 'must be a list');
  if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
    throw malformed('body kwargs', 'must be a mapping');
  }
  const embedObj = (embedRaw ?? {}) as Record<string, unknown>;
  if (typeof embedObj !== 'object' || Array.isArray(embedObj)) {
    throw malformed('body embed', 'must be a mapping');
  }
  const chord = embedObj['chord'];
  if (chord !== undefined && chord !== null && !isSignatureJSON(chord)) {
    throw malformed('embed "chord"', 'is not a signature');
  }

  const tl = h['timelimit'];
  let timelimit: [number | null, number | null] = [null, null];
  if (tl !== undefined && tl !== null) {
    if (!Array.isArray(tl) || tl.length !== 2) {
      throw malformed('header "timelimit"', 'must be [hard, soft]');
    }
    const hard = optNumber(tl[0], 'header "timelimit[0]"');
    const soft = optNumber(tl[1], 'header "timelimit[1]"');
    timelimit =
      hard === tl[0] && soft === tl[1] ? (tl as [number | null, number | null]) : [hard, soft];
  }
  const retries = optNumber(h['retries'], 'header "retries"') ?? 0;

  const lang = typeof h['lang'] === 'string' ? h['lang'] : 'py';
  const shadow = optString(h, 'shadow');
  const eta = optDateString(h, 'eta');
  const expires = optDateString(h, 'expires');
  const group = optString(h, 'group');
  const group_index = optNumber(h['group_index'], 'header "group_index"');
  const root_id = optString(h, 'root_id');
  const parent_id = optString(h, 'parent_id');
  const argsrepr = optString(h, 'argsrepr');
  const kwargsrepr = optString(h, 'kwargsrepr');
  const origin = optString(h, 'origin');
  const ignore_result = h['ignore_result'] === true;
  // Headers a Celery or Celeriac client wrote already hold every field in its normalized form;
  // then they are used as they are rather than copied (a copy per message is garbage the
  // worker makes for nothing). Otherwise the normalized fields are laid over a copy. Compared
  // field by field: no object of normalized fields is built for a message that needs none.
  let headers: TaskHeaders = h as TaskHeaders;
  if (
    h['lang'] !== lang ||
    h['shadow'] !== shadow ||
    h['eta'] !== eta ||
    h['expires'] !== expires ||
    h['group'] !== group ||
    h['group_index'] !== group_index ||
    h['retries'] !== retries ||
    h['timelimit'] !== timelimit ||
    h['root_id'] !== root_id ||
    h['parent_id'] !== parent_id ||
    h['argsrepr'] !== argsrepr ||
    h['kwargsrepr'] !== kwargsrepr ||
    h['origin'] !== origin ||
    h['ignore_result'] !== ignore_result
  ) {
    headers = {
      ...h,
      lang,
      task: h['task'],
      id: h['id'],
      shadow,
      eta,
      expires,
      group,
      group_index,
      retries,
      timelimit,
      root_id,
      parent_id,
      argsrepr,
      kwargsrepr,
      origin,
      ignore_result,
    };
  }

  return {
    headers,
    properties: raw.properties,
    args,
    kwargs: kwargs as Record<string, unknown>,
    embed: {
      callbacks: signatureList(embedObj['callbacks'], 'callbacks'),
      errbacks: signatureList(embedObj['errbacks'], 'errbacks'),
      chain: signatureList(embedObj['chain'], 'chain'),
      chord: chord ?? null,
    },
    contentType: raw.contentType,
    contentEncoding: raw.contentEncoding,
  };
}

/** The `eta` header as a Date, or null. */
export function messageEta(headers: Pick<TaskHeaders, 'eta'>): Date | null {
  return headers.eta ? parseIsoDate(headers.eta) : null;
}

/** The `expires` header as a Date, or null. */
export function messageExpires(headers: Pick<TaskHeaders, 'expires'>): Date | null {
  return headers.expires ? parseIsoDate(headers.expires) : null;
}
