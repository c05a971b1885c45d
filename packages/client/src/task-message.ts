import { randomUUID } from 'node:crypto';
import {
  CeleriacError,
  createTaskMessage,
  encodeTaskMessage,
  ErrorCodes,
  type SerializerName,
  type SignatureJSON,
} from '@celeriac/core';
import { type OptionChecks, parseIsoDate } from '@celeriac/core/internal';
import type { ApplyOptions, TaskOptions } from './task.js';
import { activeTaskContext } from './task-context.js';

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
  const message = createTaskMessage({
    name,
    id,
    args,
    kwargs,
    eta,
    expires,
    ...(timeLimit === undefined ? {} : { timeLimit }),
    ...(softTimeLimit === undefined ? {} : { softTimeLimit }),
    rootId: options.rootId ?? parent?.rootId ?? parent?.id ?? null,
    parentId: options.parentId ?? parent?.id ?? null,
    ...(options.shadow === undefined ? {} : { shadow: options.shadow }),
    ignoreResult,
    ...(priority === undefined ? {} : { priority }),
    ...(options.headers ? { headers: options.headers } : {}),
    chain,
  });
  const wire = encodeTaskMessage(
    message,
    options.serializer ?? defaults.serializer ?? send.taskSerializer,
  );
  return { id, eta, wire };
}
