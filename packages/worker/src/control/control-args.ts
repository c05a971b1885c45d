/**
 * Reading the `arguments` of a remote-control request. Python's `celery control` converts the
 * command line by each command's declared types (`pool_grow 2` sends `n: 2`), `app.control.*`
 * sends native values, and Celeriac's CLI sends what Python's does; a string where a number
 * or a flag belongs is still read (`'2'`, `'true'`), as a hand-made request may carry one.
 */

/** A request the worker refuses; its message is the `{error}` reply. */
export class ControlRefusal extends Error {
  override readonly name = 'ControlRefusal';
}

export type ControlArgs = Readonly<Record<string, unknown>>;

/** A string argument; absent, null or empty is undefined. */
export function stringArg(args: ControlArgs, key: string): string | undefined {
  const v = args[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new ControlRefusal(`${key} must be a string, got ${JSON.stringify(v)}`);
}

/** A finite number argument (a numeric string too); absent or null is undefined. */
export function numberArg(args: ControlArgs, key: string): number | undefined {
  const v = args[key];
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isFinite(n))
    throw new ControlRefusal(`${key} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

/** An integer argument >= `min`; absent is `fallback`. */
export function integerArg(args: ControlArgs, key: string, fallback: number, min = 1): number {
  const n = numberArg(args, key) ?? fallback;
  if (!Number.isInteger(n) || n < min) {
    throw new ControlRefusal(
      `${key} must be an integer >= ${min}, got ${JSON.stringify(args[key])}`,
    );
  }
  return n;
}

/** Celery's `strtobool`: true, 1, yes, on, y, t (any case), or a boolean. */
export function booleanArg(args: ControlArgs, key: string): boolean {
  const v = args[key];
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return ['true', '1', 'yes', 'on', 'y', 't'].includes(v.toLowerCase());
  return false;
}

/** One id or a list of them (Celery's `maybe_list`): the strings, in order, without repeats. */
export function idsArg(args: ControlArgs, key: string): string[] {
  const v = args[key];
  const list = Array.isArray(v) ? (v as unknown[]) : v === undefined || v === null ? [] : [v];
  return [...new Set(list.filter((x): x is string => typeof x === 'string' && x !== ''))];
}
