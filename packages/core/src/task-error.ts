import { CeleriacError, ErrorCodes } from './errors.js';
import { pyRepr } from './py-repr.js';

/** Celery's serialized exception: `{exc_type, exc_message: [...args], exc_module}`. */
export interface ExceptionDocument {
  exc_type: string;
  exc_message: unknown;
  exc_module: string | null;
  [extra: string]: unknown;
}

export function isExceptionDocument(value: unknown): value is ExceptionDocument {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Record<string, unknown>)['exc_type'] === 'string'
  );
}

/**
 * Python builtins that share a name with a JavaScript error or are raised by Celeriac with
 * Python's meaning; an error of such a type is sent with module `builtins` so a Python
 * client re-raises the real class.
 */
const PYTHON_BUILTINS = new Set([
  'Exception',
  'TypeError',
  'ValueError',
  'KeyError',
  'IndexError',
  'RuntimeError',
  'ZeroDivisionError',
  'AttributeError',
  'NotImplementedError',
  'AssertionError',
  'LookupError',
  'ArithmeticError',
  'OverflowError',
  'TimeoutError',
  'ConnectionError',
  'OSError',
  'PermissionError',
  'FileNotFoundError',
]);

/**
 * The Python message of an exception: `str(exc)`, from its args. Python prints one string
 * arg as is, one other arg as its repr, and several as the repr of the args tuple.
 */
function messageFromArgs(args: unknown): string {
  const single = (v: unknown): string => (typeof v === 'string' ? v : pyRepr(v, Infinity));
  if (Array.isArray(args)) {
    if (args.length === 0) return '';
    if (args.length === 1) return single(args[0]);
    return pyRepr(args, Infinity, true);
  }
  return single(args);
}

export interface TaskErrorOptions {
  /** Exception type name, for example `ValueError` or `TypeError`. */
  type: string;
  /** Python module of the type (`builtins`, `celery.exceptions`, `myapp.errors`), or null. */
  module?: string | null;
  /** The exception's args (Celery's `exc_message`). */
  args?: unknown[];
  message?: string;
  traceback?: string | null;
  taskId?: string;
  cause?: unknown;
}

/**
 * The failure of a task, as Celery stores it: the remote exception's type, module, message
 * and traceback. `AsyncResult.get()` rejects with one; `code` is `CELERIAC_ERR_TASK_FAILED`.
 */
export class TaskError extends CeleriacError {
  /** The remote exception's type name. */
  readonly type: string;
  readonly module: string | null;
  /** The exception's args, as sent in `exc_message`. */
  readonly args: unknown[];
  /** The remote traceback (Python's or a JS stack), when stored. */
  readonly traceback: string | null;
  readonly taskId: string | undefined;

  constructor(o: TaskErrorOptions) {
    const args = o.args ?? (o.message === undefined ? [] : [o.message]);
    const message = o.message ?? messageFromArgs(args);
    super(ErrorCodes.TASK_FAILED, `${o.type}: ${message}`, {
      cause: o.cause,
      details: { type: o.type, module: o.module ?? null },
    });
    this.name = 'TaskError';
    this.type = o.type;
    this.module = o.module ?? null;
    this.args = args;
    this.traceback = o.traceback ?? null;
    this.taskId = o.taskId;
  }

  /** The exception message as the remote side produced it, without the type prefix. */
  get remoteMessage(): string {
    return messageFromArgs(this.args);
  }

  static fromDocument(
    doc: ExceptionDocument,
    traceback: string | null = null,
    taskId?: string,
  ): TaskError {
    const args = Array.isArray(doc.exc_message)
      ? (doc.exc_message as unknown[])
      : doc.exc_message === undefined || doc.exc_message === null
        ? []
        : [doc.exc_message];
    return new TaskError({
      type: doc.exc_type,
      module: doc.exc_module,
      args,
      traceback,
      ...(taskId === undefined ? {} : { taskId }),
    });
  }

  toDocument(): ExceptionDocument {
    return { exc_type: this.type, exc_message: this.args, exc_module: this.module };
  }
}

/**
 * Celery's `prepare_exception` for anything a JS task throws. A `TaskError` keeps its remote
 * type; an error may set `pythonModule` / `excModule` to name its Python module; other
 * errors go under module `builtins` when Python has the same class, else `celeriac`.
 */
export function exceptionToDocument(err: unknown): ExceptionDocument {
  if (err instanceof TaskError) return err.toDocument();
  if (err instanceof Error) {
    const type = err.name && err.name !== 'Error' ? err.name : 'Exception';
    const declared = (err as { excModule?: unknown }).excModule;
    const module =
      typeof declared === 'string'
        ? declared
        : PYTHON_BUILTINS.has(type)
          ? 'builtins'
          : 'celeriac.exceptions';
    const extraArgs = (err as { excArgs?: unknown }).excArgs;
    return {
      exc_type: type,
      exc_message: Array.isArray(extraArgs) ? extraArgs : [err.message],
      exc_module: module,
    };
  }
  return { exc_type: 'Exception', exc_message: [String(err)], exc_module: 'builtins' };
}

/** A traceback string for a thrown value: the JS stack, which Python shows as-is. */
export function tracebackOf(err: unknown): string | null {
  if (err instanceof TaskError && err.traceback) return err.traceback;
  if (err instanceof Error && err.stack) return err.stack;
  return null;
}
