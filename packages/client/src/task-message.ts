import { randomUUID } from 'node:crypto';
import {
  CeleriacError,
  createTaskMessage,
  encodeTaskMessage,
  type CreateTaskMessageOptions,
  ErrorCodes,
  isSignatureJSON,
  type SerializerName,
  type SignatureJSON,
} from '@celeriac/core';
import { type OptionChecks, parseIsoDate } from '@celeriac/core/internal';
import type { ApplyOptions, TaskOptions } from './task.js';
import type { CanvasPart } from './canvas.js';
import { activeTaskContext, RECORD_CHILD, type ChildRecorder } from './task-context.js';

/** `CELERIAC_ERR_INVALID_OPTION` for a bad argument of `task()` or a send. */
export function invalid(message: string): CeleriacError {
  return new CeleriacError(ErrorCodes.INVALID_OPTION, message);
}

function toDate(value: Date | string, name: string, checks: OptionChecks): Date {
  const d = value instanceof Date ? value : parseIsoDate(value);
  if (!d || Number.isNaN(d.getTime()))
    throw checks.wrongType(name, value, 'a Date or an ISO-8601 string');
  return d;
}

/** What one send is made of. */
export interface TaskSend {
  readonly name: string;
  readonly args: readonly unknown[];
  readonly kwargs: Record<string, unknown>;
  readonly options: ApplyOptions;
  /** The task's own options (`app.task(name, fn, options)`), under the send's. */
  readonly defaults: Readonly<TaskOptions>;
  readonly chain: SignatureJSON[] | null;
  /** What a signature sent by a worker carries beyond `options` (see `signatureSend`). */
  readonly embed?: WireEmbed;
  /** Names the caller (`applyAsync`, `sendTask`) in option errors. */
  readonly checks: OptionChecks;
  readonly now: number;
  readonly taskSerializer: SerializerName;
}

/**
 * The Celery protocol v2 message of one send, encoded: its id, its ETA and the wire form. The
 * parent and root ids come from the task running this code, if any.
 */
export function buildTaskWire(send: TaskSend): {
  id: string;
  eta: Date | null;
  wire: ReturnType<typeof encodeTaskMessage>;
} {
  const { name, args, kwargs, options, defaults, chain, checks, now } = send;
  if (!Array.isArray(args)) throw invalid(`"${name}": args must be an array`);
  if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
    throw invalid(`"${name}": kwargs must be a plain object`);
  }
  if (options.countdown !== undefined && options.eta !== undefined) {
    throw checks.invalid(
      'countdown',
      `was given with eta for "${name}": pass countdown or eta, not both`,
      { value: options.countdown },
    );
  }
  let eta: Date | null = null;
  if (options.countdown !== undefined) eta = new Date(now + options.countdown * 1000);
  else if (options.eta !== undefined) eta = toDate(options.eta, 'eta', checks);
  const expiresOpt = options.expires ?? defaults.expires;
  let expires: Date | null = null;
  if (typeof expiresOpt === 'number') expires = new Date(now + expiresOpt * 1000);
  else if (expiresOpt !== undefined) expires = toDate(expiresOpt, 'expires', checks);
  const priority = options.priority ?? defaults.priority;
  const timeLimit = options.timeLimit ?? defaults.timeLimit;
  const softTimeLimit = options.softTimeLimit ?? defaults.softTimeLimit;
  const parent = activeTaskContext();
  const id = options.taskId ?? randomUUID();
  const ignoreResult = options.ignoreResult ?? defaults.ignoreResult ?? false;
  // Assigned field by field rather than spread from temporary objects: this runs per send.
  const create: CreateTaskMessageOptions = {
    name,
    id,
    args,
    kwargs,
    eta,
    expires,
    rootId: options.rootId ?? parent?.rootId ?? parent?.id ?? null,
    parentId: options.parentId ?? parent?.id ?? null,
    ignoreResult,
    chain,
  };
  if (timeLimit !== undefined) create.timeLimit = timeLimit;
  if (softTimeLimit !== undefined) create.softTimeLimit = softTimeLimit;
  if (options.shadow !== undefined) create.shadow = options.shadow;
  if (priority !== undefined) create.priority = priority;
  if (options.headers) create.headers = options.headers;
  if (send.embed) Object.assign(create, send.embed);
  if (options.link !== undefined || options.linkError !== undefined) {
    Object.assign(create, linkEmbed(options, send.embed));
  }
  const message = createTaskMessage(create);
  const wire = encodeTaskMessage(
    message,
    options.serializer ?? defaults.serializer ?? send.taskSerializer,
  );
  // Celery's `add_to_parent`: a task sent while a worker runs a task is one of its children.
  (parent as ChildRecorder | undefined)?.[RECORD_CHILD]?.([[id, null], null]);
  return { id, eta, wire };
}

/** `applyAsync`'s `link` / `linkError`, added to what the embed already carries. */
function linkEmbed(options: ApplyOptions, embed: WireEmbed | undefined): WireEmbed {
  const dicts = (v: ApplyOptions['link']): SignatureJSON[] =>
    v === undefined ? [] : (Array.isArray(v) ? v : [v]).map((p: CanvasPart) => p.toJSON());
  const out: WireEmbed = {};
  if (options.link !== undefined)
    out.callbacks = [...(embed?.callbacks ?? []), ...dicts(options.link)];
  if (options.linkError !== undefined)
    out.errbacks = [...(embed?.errbacks ?? []), ...dicts(options.linkError)];
  return out;
}

/** Message fields a signature's Celery options set that `ApplyOptions` has no name for. */
export interface WireEmbed {
  callbacks?: SignatureJSON[] | null;
  errbacks?: SignatureJSON[] | null;
  chord?: SignatureJSON | null;
  groupId?: string | null;
  groupIndex?: number | null;
  /** The reply queue of the client that built the signature (rpc://): results go there. */
  replyTo?: string;
}

/** How a worker sends a signature onward (a chain step, a callback, an errback). */
export interface SignatureSendExtra {
  /** Prepended to the signature's args unless it is immutable (a result, a failed task's id). */
  parentResult?: unknown;
  /** The task that sends it (the step's `parent_id`). */
  parentId?: string;
  /** The workflow's first task (the step's `root_id`). */
  rootId?: string;
  /** The chain steps after this one, in reverse order (the next is the last element). */
  chain?: SignatureJSON[] | null;
  /** The group it is sent in, unless the signature names its own `group_id`. */
  groupId?: string;
  /** Its place in that group. */
  groupIndex?: number;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function sigs(v: unknown): SignatureJSON[] | undefined {
  return Array.isArray(v) ? (v as SignatureJSON[]) : undefined;
}

/**
 * Celery's `Signature.apply_async` on a worker: the signature's options (as Celery names them
 * in the signature dict) become the send's, so a chain step keeps its reply queue, expiry,
 * time limits, errbacks, priority and route. A routing key without a queue names the queue
 * (the default exchange's rule).
 */
export function signatureSend(
  sig: SignatureJSON,
  extra: SignatureSendExtra,
): { args: unknown[]; apply: ApplyOptions; embed: WireEmbed } {
  const o = sig.options;
  const args =
    'parentResult' in extra && !sig.immutable ? [extra.parentResult, ...sig.args] : sig.args;
  const apply: ApplyOptions = {};
  const set = <K extends keyof ApplyOptions>(k: K, v: ApplyOptions[K] | undefined): void => {
    if (v !== undefined) apply[k] = v;
  };
  set('taskId', str(o['task_id']));
  set('queue', str(o['queue']) ?? (str(o['exchange']) ? undefined : str(o['routing_key'])));
  set('priority', num(o['priority']));
  set('countdown', num(o['countdown']));
  if (apply.countdown === undefined) set('eta', str(o['eta']));
  set('expires', num(o['expires']) ?? str(o['expires']));
  set('timeLimit', num(o['time_limit']));
  set('softTimeLimit', num(o['soft_time_limit']));
  set('shadow', str(o['shadow']));
  if (typeof o['ignore_result'] === 'boolean') apply.ignoreResult = o['ignore_result'];
  set('parentId', extra.parentId ?? str(o['parent_id']));
  set('rootId', extra.rootId ?? str(o['root_id']));
  const embed: WireEmbed = {};
  const link = sigs(o['link']);
  const linkError = sigs(o['link_error']);
  if (link) embed.callbacks = link;
  if (linkError) embed.errbacks = linkError;
  if (isSignatureJSON(o['chord'])) embed.chord = o['chord'];
  const groupId = str(o['group_id']) ?? extra.groupId; // Celery keeps a signature's own group
  if (groupId) embed.groupId = groupId;
  const groupIndex = extra.groupIndex ?? num(o['group_index']);
  if (groupIndex !== undefined) embed.groupIndex = groupIndex;
  const replyTo = str(o['reply_to']);
  if (replyTo) embed.replyTo = replyTo;
  return { args, apply, embed };
}
