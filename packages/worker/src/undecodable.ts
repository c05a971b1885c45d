import {
  ErrorCodes,
  isCeleriacError,
  serializerForContentType,
  type BrokerMessage,
  type TaskHeaders,
  type TaskMessage,
} from '@celeriac/core';

/** kombu's names for the content types it registers, as its ContentDisallowed message shows them. */
const KOMBU_NAMES: Readonly<Record<string, string>> = {
  'application/x-python-serialize': 'pickle',
  'application/x-yaml': 'yaml',
  'application/json': 'json',
  'application/x-msgpack': 'msgpack',
};

/** A message whose headers name its task and id but whose body cannot be read. */
export interface Undecodable {
  /** A stand-in with the headers and properties it has (no args, no embed), to store its FAILURE. */
  readonly msg: TaskMessage;
  /** The exception document Celery stores for it. */
  readonly exception: Record<string, unknown>;
}

/**
 * What to store for a message that failed to decode, so that the caller's `get()` raises
 * instead of waiting forever; undefined when its headers give no task name and id (then no
 * caller can be told). The exception is the one a Celery worker stores for the same body
 * (its pool decodes the body with kombu's `loads(…, accept=accept_content)` and a failure
 * there becomes the task's FAILURE):
 * - a content type this worker refuses (pickle, yaml, …): kombu's `ContentDisallowed`,
 *   `Refusing to deserialize untrusted content of type pickle (application/x-python-serialize)`;
 * - bytes the serializer cannot read (corrupt JSON or msgpack): kombu's `DecodeError`;
 * - a body that decodes but is not `[args, kwargs, embed]`, or a malformed header:
 *   Celery's `InvalidTaskError`.
 */
export function undecodable(raw: BrokerMessage, err: unknown): Undecodable | undefined {
  const h = raw.headers as Record<string, unknown> | null | undefined;
  if (typeof h !== 'object' || h === null) return undefined;
  const { task, id } = h;
  if (typeof task !== 'string' || task === '' || typeof id !== 'string' || id === '') {
    return undefined;
  }
  return { msg: standIn(raw, h, task, id), exception: exceptionFor(raw, err) };
}

function exceptionFor(raw: BrokerMessage, err: unknown): Record<string, unknown> {
  if (isCeleriacError(err, ErrorCodes.UNSUPPORTED_CONTENT_TYPE)) {
    const type = (raw.contentType || 'application/data').trim().toLowerCase();
    const shown = `${KOMBU_NAMES[type] ?? type} (${type})`;
    return kombuError(
      'ContentDisallowed',
      `Refusing to deserialize untrusted content of type ${shown}`,
    );
  }
  try {
    serializerForContentType(raw.contentType).decode(raw.body);
  } catch (decodeErr) {
    return kombuError('DecodeError', (decodeErr as Error).message);
  }
  return {
    exc_type: 'InvalidTaskError',
    exc_message: [(err as Error).message],
    exc_module: 'celery.exceptions',
  };
}

function kombuError(type: string, message: string): Record<string, unknown> {
  return { exc_type: type, exc_message: [message], exc_module: 'kombu.exceptions' };
}

function standIn(
  raw: BrokerMessage,
  h: Record<string, unknown>,
  task: string,
  id: string,
): TaskMessage {
  const str = (key: string): string | null => {
    const v = h[key];
    return typeof v === 'string' ? v : null;
  };
  const retries = h['retries'];
  const headers: TaskHeaders = {
    ...h,
    lang: str('lang') ?? 'py',
    task,
    id,
    shadow: str('shadow'),
    eta: null,
    expires: null,
    group: str('group'),
    group_index: null,
    retries: typeof retries === 'number' && Number.isFinite(retries) ? retries : 0,
    timelimit: [null, null],
    root_id: str('root_id'),
    parent_id: str('parent_id'),
    argsrepr: str('argsrepr'),
    kwargsrepr: str('kwargsrepr'),
    origin: str('origin'),
    ignore_result: h['ignore_result'] === true,
  };
  return {
    headers,
    properties: raw.properties,
    args: [],
    kwargs: {},
    embed: { callbacks: null, errbacks: null, chain: null, chord: null },
    contentType: raw.contentType,
    contentEncoding: raw.contentEncoding,
  };
}
