import { parseRateLimit, type RateLimit } from '@celeriac/client';
import {
  booleanArg,
  ControlRefusal,
  idsArg,
  integerArg,
  numberArg,
  stringArg,
  type ControlArgs,
} from './control-args.js';
import type { ScheduledInfo, TaskInfo } from './task-info.js';

/** Where a task of `query_task` is: running, or taken and waiting to run. */
export type QueriedState = 'active' | 'reserved';

/**
 * What remote control asks of its worker. Each method is the worker side of a Celery command
 * (`celery/worker/control.py`); the command table below reads the arguments and shapes the
 * reply as Celery's does. A method that cannot do what it is asked throws `ControlRefusal`.
 */
export interface ControlledWorker {
  readonly hostname: string;
  /** Every task this worker runs, with its rate limit as it is now. */
  tasks(): { name: string; rateLimit: string | null }[];
  active(): TaskInfo[];
  /** Taken from the broker, not started, not held for an ETA. */
  reserved(): TaskInfo[];
  scheduled(): ScheduledInfo[];
  query(ids: readonly string[]): Record<string, [QueriedState, TaskInfo]>;
  /** Revoked ids in force, with when each was revoked (epoch seconds, Celery's LimitedSet). */
  revoked(): Record<string, number>;
  /** Revokes; returns the ids of those found running and terminated (when `terminate`). */
  revoke(ids: readonly string[], terminate: boolean): string[];
  /** Takes revocations another worker knows (`hello`), by when each was revoked. */
  mergeRevoked(revoked: Record<string, number>): void;
  stats(clock: number): Record<string, unknown>;
  conf(withDefaults: boolean): Record<string, unknown>;
  /** Celery's `bugreport()`: versions and settings, as text. */
  report(): string;
  /** The consumed queues in kombu's `Queue.as_dict(recurse=True)` shape. */
  activeQueues(): Record<string, unknown>[];
  hasTask(name: string): boolean;
  setRateLimit(task: string, limit: RateLimit | null, text: string | null): void;
  setTimeLimits(task: string, soft: number | null, hard: number | null): void;
  /** Changes concurrency by `delta` (Celery's pool_grow / pool_shrink). */
  resize(delta: number): void;
  /** Sets the autoscale range; returns it as applied. */
  autoscale(max: number | undefined, min: number | undefined): { max: number; min: number };
  addConsumer(queue: string): void;
  cancelConsumer(queue: string): void;
  /** Stops the worker gracefully, once the reply is sent. */
  shutdown(reason: string): void;
  /** Resident memory in bytes. */
  memory(): number;
  /** Sends a worker-heartbeat event now, when events are on (Celery's `heartbeat`). */
  heartbeat?(): void;
}

/** What a command sees besides its worker and arguments. */
export interface CommandContext {
  /** The worker's logical clock, for `clock` and `hello`. */
  readonly clock: number;
}

export type Command = (w: ControlledWorker, args: ControlArgs, ctx: CommandContext) => unknown;

const ok = (value: unknown): { ok: unknown } => ({ ok: value });
const nok = (value: unknown): { error: unknown } => ({ error: value });

/** Celery's `humanbytes`, as `memsample` prints it. */
export function humanBytes(n: number): string {
  for (const [div, unit] of [
    [2 ** 40, 'TB'],
    [2 ** 30, 'GB'],
    [2 ** 20, 'MB'],
    [2 ** 10, 'KB'],
  ] as const) {
    if (n >= div) return `${(n / div).toFixed(2).replace(/\.?0+$/, '')}${unit}`;
  }
  return `${n}b`;
}

function revoke(w: ControlledWorker, ids: string[], terminate: boolean): { ok: string } {
  const terminated = w.revoke(ids, terminate);
  if (terminate) {
    return ok(
      terminated.length === 0 ? 'terminate: tasks unknown' : `terminate: ${terminated.join(', ')}`,
    ) as { ok: string };
  }
  return ok(`tasks ${ids.join(', ')} flagged as revoked`) as { ok: string };
}

/** `registered`: names, with the task attributes asked for (Celery's `_extract_info`). */
function registered(w: ControlledWorker, args: ControlArgs): string[] {
  const items = idsArg(args, 'taskinfoitems');
  const wanted = items.length > 0 ? items : ['exchange', 'routing_key', 'rate_limit'];
  const builtins = booleanArg(args, 'builtins');
  return w
    .tasks()
    .filter((t) => builtins || !t.name.startsWith('celery.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((t) => {
      const fields =
        wanted.includes('rate_limit') && t.rateLimit ? [`rate_limit=${t.rateLimit}`] : [];
      return fields.length > 0 ? `${t.name} [${fields.join(' ')}]` : t.name;
    });
}

function rateLimit(w: ControlledWorker, args: ControlArgs): unknown {
  const name = stringArg(args, 'task_name') ?? '';
  const text = stringArg(args, 'rate_limit') ?? null;
  const limit = text === null ? null : parseRateLimit(text);
  if (limit === undefined && !/^\s*0+(\.0*)?\s*(\/\s*[smh])?\s*$/.test(text ?? '')) {
    return nok(`Invalid rate limit string: ${JSON.stringify(text)} (e.g. 10/s, 100/m, 1000/h)`);
  }
  if (!w.hasTask(name)) return nok('unknown task');
  w.setRateLimit(name, limit ?? null, limit ? text : null);
  return text === null
    ? ok('rate limit disabled successfully')
    : ok('new rate limit set successfully');
}

function timeLimit(w: ControlledWorker, args: ControlArgs): unknown {
  const name = stringArg(args, 'task_name') ?? '';
  if (!w.hasTask(name)) return nok('unknown task');
  w.setTimeLimits(name, numberArg(args, 'soft') ?? null, numberArg(args, 'hard') ?? null);
  return ok('time limits set successfully');
}

function pool(delta: 1 | -1): Command {
  return (w, args) => {
    w.resize(delta * integerArg(args, 'n', 1));
    return ok(delta > 0 ? 'pool will grow' : 'pool will shrink');
  };
}

/**
 * Celery's remote-control commands (`celery/worker/control.py`) by name, aliases included,
 * with Celery's reply shapes: inspect commands answer data, control commands `{ok}` or
 * `{error}`. `enable_events` / `disable_events` belong to the events module.
 */
export const COMMANDS: Readonly<Record<string, Command>> = {
  ping: () => ok('pong'),
  clock: (_w, _a, ctx) => ({ clock: ctx.clock }),
  hello: (w, args, ctx) => {
    if (stringArg(args, 'from_node') === w.hostname) return null;
    const theirs = args['revoked'];
    if (typeof theirs === 'object' && theirs !== null && !Array.isArray(theirs)) {
      w.mergeRevoked(theirs as Record<string, number>);
    }
    return { revoked: w.revoked(), clock: ctx.clock };
  },
  election: () => null, // no gossip: nothing to elect
  heartbeat: (w) => {
    w.heartbeat?.();
    return null;
  },
  report: (w) => ok(w.report()),
  conf: (w, args) => w.conf(booleanArg(args, 'with_defaults')),
  stats: (w, _a, ctx) => w.stats(ctx.clock),
  active: (w) => w.active(),
  reserved: (w) => w.reserved(),
  scheduled: (w) => w.scheduled(),
  revoked: (w) => Object.keys(w.revoked()),
  registered,
  query_task: (w, args) => w.query(idsArg(args, 'ids')),
  active_queues: (w) => w.activeQueues(),
  memsample: (w) => humanBytes(w.memory()),
  memdump: (w) => `Memory usage: ${humanBytes(w.memory())} (resident)\n`,
  objgraph: () => nok('objgraph is a Python memory-leak tool; a Celeriac worker has none'),
  revoke: (w, args) => revoke(w, idsArg(args, 'task_id'), booleanArg(args, 'terminate')),
  terminate: (w, args) => revoke(w, idsArg(args, 'task_id'), true),
  rate_limit: rateLimit,
  time_limit: timeLimit,
  pool_grow: pool(1),
  pool_shrink: pool(-1),
  pool_restart: () => nok('Pool restarts not enabled'),
  autoscale: (w, args) => {
    const { max, min } = w.autoscale(numberArg(args, 'max'), numberArg(args, 'min'));
    return ok(`autoscale now max=${max} min=${min}`);
  },
  add_consumer: (w, args) => {
    const queue = stringArg(args, 'queue');
    if (!queue) return nok('add_consumer needs a queue');
    w.addConsumer(queue);
    return ok(`add consumer ${queue}`);
  },
  cancel_consumer: (w, args) => {
    const queue = stringArg(args, 'queue');
    if (!queue) return nok('cancel_consumer needs a queue');
    w.cancelConsumer(queue);
    return ok(`no longer consuming from ${queue}`);
  },
  shutdown: (w, args) => {
    w.shutdown(stringArg(args, 'msg') ?? 'Got shutdown from remote');
    return ok('shutting down');
  },
};

const ALIASES: Readonly<Record<string, string>> = {
  dump_conf: 'conf',
  dump_schedule: 'scheduled',
  dump_reserved: 'reserved',
  dump_active: 'active',
  dump_revoked: 'revoked',
  dump_tasks: 'registered',
};

/** Runs one command; an unknown one, or a refusal, is Celery's `{error}` reply. */
export function runCommand(
  w: ControlledWorker,
  method: string,
  args: ControlArgs,
  ctx: CommandContext,
  extra: Readonly<Record<string, Command>> = {},
): unknown {
  const name = Object.hasOwn(ALIASES, method) ? ALIASES[method]! : method;
  const command = Object.hasOwn(extra, method)
    ? extra[method]
    : Object.hasOwn(COMMANDS, name)
      ? COMMANDS[name]
      : undefined;
  if (!command) return nok(`No such control command: ${method}`);
  try {
    return command(w, args, ctx);
  } catch (err) {
    if (err instanceof ControlRefusal) return nok(err.message);
    return nok(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  }
}
