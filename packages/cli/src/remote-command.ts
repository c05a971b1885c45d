import { withOneShotApp, type CliIo } from './cli-context.js';
import { COMMON_HELP, commonOptions, flag, listOption, numberOption, parse, str } from './parse.js';
import { UsageError } from './usage-error.js';

/** How a command-line word becomes an argument value, as Celery's `Panel.meta` args types. */
type ArgType = 'str' | 'int' | 'float' | 'bool';

/** One remote-control verb as the command line takes it (Celery's `controller_info_t`). */
export interface Verb {
  /** Positional arguments in order: name and type. */
  readonly args?: readonly (readonly [string, ArgType])[];
  /** The argument that takes every remaining word, as a list. */
  readonly variadic?: string;
  readonly signature?: string;
  readonly help: string;
}

/** `celery inspect` verbs (Celery 5.2's `Panel.meta`, type `inspect`, visible; objgraph aside). */
export const INSPECT_VERBS: Readonly<Record<string, Verb>> = {
  active: { help: 'the tasks it runs now' },
  active_queues: { help: 'the queues it consumes' },
  clock: { help: 'its logical clock' },
  conf: {
    args: [['with_defaults', 'bool']],
    signature: '[include_defaults=False]',
    help: 'its configuration, in Celery setting names',
  },
  memdump: { args: [['samples', 'int']], signature: '[n_samples=10]', help: 'memory samples' },
  memsample: { help: 'its resident memory now' },
  ping: { help: '{"ok": "pong"}' },
  query_task: {
    variadic: 'ids',
    signature: '[id1 [id2 [... [idN]]]]',
    help: 'where these task ids are (active, reserved)',
  },
  registered: {
    variadic: 'taskinfoitems',
    signature: '[attr1 [attr2 [... [attrN]]]]',
    help: 'the task names it knows',
  },
  report: { help: 'versions, platform and settings, for bug reports' },
  reserved: { help: 'tasks taken from the broker, not started' },
  revoked: { help: 'the revoked task ids it knows' },
  scheduled: { help: 'tasks it holds for their ETA' },
  stats: { help: 'runs per task, pid, pool, broker, prefetch, rusage' },
};

/** `celery control` verbs (Celery 5.2's `Panel.meta`, type `control`, visible). */
export const CONTROL_VERBS: Readonly<Record<string, Verb>> = {
  add_consumer: {
    args: [
      ['queue', 'str'],
      ['exchange', 'str'],
      ['exchange_type', 'str'],
      ['routing_key', 'str'],
    ],
    signature: '<queue> [exchange [type [routing_key]]]',
    help: 'start consuming a queue',
  },
  autoscale: {
    args: [
      ['max', 'int'],
      ['min', 'int'],
    ],
    signature: '[max [min]]',
    help: 'set the autoscale range',
  },
  cancel_consumer: {
    args: [['queue', 'str']],
    signature: '<queue>',
    help: 'stop consuming a queue',
  },
  disable_events: { help: 'stop sending task events' },
  enable_events: { help: 'send task events' },
  heartbeat: { help: 'send a worker-heartbeat event now' },
  pool_grow: { args: [['n', 'int']], signature: '[N=1]', help: 'run N more tasks at once' },
  pool_restart: { help: 'restart the pool (refused: not enabled)' },
  pool_shrink: { args: [['n', 'int']], signature: '[N=1]', help: 'run N fewer tasks at once' },
  rate_limit: {
    args: [
      ['task_name', 'str'],
      ['rate_limit', 'str'],
    ],
    signature: '<task_name> <rate_limit (e.g., 5/s | 5/m | 5/h)>',
    help: "change a task's rate limit",
  },
  revoke: { variadic: 'task_id', signature: '[id1 [id2 [... [idN]]]]', help: 'revoke tasks' },
  shutdown: { help: 'stop the worker gracefully' },
  terminate: {
    args: [['signal', 'str']],
    variadic: 'task_id',
    signature: '<signal> [id1 [id2 [... [idN]]]]',
    help: 'revoke tasks and end their runs',
  },
  time_limit: {
    args: [
      ['task_name', 'str'],
      ['soft', 'float'],
      ['hard', 'float'],
    ],
    signature: '<task_name> <soft_secs> [hard_secs]',
    help: "change a task's soft and hard time limits",
  },
};

/** The help text's list of verbs: name, signature, what it does. */
export function verbList(verbs: Readonly<Record<string, Verb>>): string {
  return Object.entries(verbs)
    .map(([name, v]) => {
      const head = `  ${name}${v.signature ? ` ${v.signature}` : ''}`;
      return head.length < 34
        ? `${head.padEnd(34)}${v.help}`
        : `${head}\n${''.padEnd(34)}${v.help}`;
    })
    .join('\n');
}

export const REMOTE_OPTIONS_HELP = `  -d, --destination <a,b>   Only these workers (celeriac@host, celery@host)
  -t, --timeout <s>         Seconds to wait for replies (default: 1)
  -j, --json                One JSON object: replies by worker name
${COMMON_HELP}`;

/**
 * The words after the verb as its arguments, as Celery's `_compile_arguments`: positional
 * ones converted by type, the rest to the variadic list. Throws a UsageError on a bad one.
 */
export function compileArguments(
  name: string,
  verb: Verb,
  words: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const positional = verb.args ?? [];
  let i = 0;
  for (; i < words.length && i < positional.length; i++) {
    const [key, type] = positional[i]!;
    out[key] = convert(name, key, type, words[i]!);
  }
  const rest = words.slice(i);
  if (verb.variadic) out[verb.variadic] = rest;
  else if (rest.length > 0) {
    throw new UsageError(
      `${name} takes arguments: ${verb.signature ?? 'none'}; unexpected "${rest[0]}"`,
    );
  }
  return out;
}

function convert(verb: string, key: string, type: ArgType, word: string): unknown {
  switch (type) {
    case 'str':
      return word;
    case 'bool':
      return ['true', '1', 'yes', 'on', 'y', 't'].includes(word.toLowerCase());
    case 'int':
    case 'float': {
      const n = Number(word);
      if (word.trim() === '' || !Number.isFinite(n) || (type === 'int' && !Number.isInteger(n))) {
        throw new UsageError(
          `${verb}: ${key} must be ${type === 'int' ? 'an integer' : 'a number'}, got "${word}"`,
        );
      }
      return n;
    }
  }
}

/** One worker's reply, as Celery's CLI prints it: OK or ERROR, and the value indented. */
export function describeReply(reply: unknown): string {
  const indent = (text: string): string => text.replace(/^/gm, '        ');
  const pretty = (v: unknown): string => {
    if (Array.isArray(v)) {
      return v.length === 0
        ? '- empty -'
        : v.map((x) => `* ${typeof x === 'string' ? x : JSON.stringify(x)}`).join('\n');
    }
    if (typeof v === 'string') return v;
    return JSON.stringify(v, null, 4) ?? 'None';
  };
  if (typeof reply === 'object' && reply !== null && !Array.isArray(reply)) {
    if ('ok' in reply) return `OK\n${indent(pretty(reply.ok))}`;
    if ('error' in reply) return `ERROR\n${indent(pretty(reply.error))}`;
  }
  if (Array.isArray(reply) && reply.length === 0) return '- empty -';
  return `OK\n${indent(pretty(reply))}`;
}

/** `celeriac inspect` and `celeriac control`: one verb to the workers, their replies printed. */
export async function remoteCommand(
  kind: 'inspect' | 'control',
  verbs: Readonly<Record<string, Verb>>,
  help: string,
  argv: string[],
  io: CliIo,
): Promise<number> {
  const p = parse(
    argv,
    {
      ...commonOptions,
      destination: { type: 'string', short: 'd' },
      timeout: { type: 'string', short: 't' },
      json: { type: 'boolean', short: 'j' },
    },
    true,
  );
  if (p.values['help']) {
    io.stdout.write(help);
    return 0;
  }
  const [action, ...words] = p.positionals;
  const names = Object.keys(verbs);
  if (!action)
    throw new UsageError(
      `${kind} needs an action: celeriac ${kind} <action>; one of: ${names.join(', ')}`,
    );
  const verb = Object.hasOwn(verbs, action) ? verbs[action] : undefined;
  if (!verb)
    throw new UsageError(`unknown ${kind} action "${action}"; one of: ${names.join(', ')}`);
  const args = compileArguments(action, verb, words);
  const timeout = numberOption(str(p, 'timeout'), '--timeout') ?? 1;
  if (!(timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds');
  const destination = listOption(str(p, 'destination'));
  return withOneShotApp(p, async (app) => {
    const inspect = app.control.inspect({ timeout, ...(destination ? { destination } : {}) });
    const replies = await inspect.request(action, args);
    const nodes = Object.keys(replies).sort();
    if (flag(p, 'json')) {
      io.stdout.write(`${JSON.stringify(replies)}\n`);
    } else {
      for (const node of nodes) io.stdout.write(`-> ${node}: ${describeReply(replies[node])}\n`);
      if (nodes.length > 0 && kind === 'inspect') io.stdout.write(`\n${online(nodes.length)}\n`);
    }
    if (nodes.length === 0) {
      io.stderr.write(`celeriac: no worker replied within ${timeout} s\n`);
      return 69;
    }
    return 0;
  });
}

/** "1 node online." / "3 nodes online." */
export function online(n: number): string {
  return `${n} node${n === 1 ? '' : 's'} online.`;
}
