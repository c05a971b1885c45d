import { CeleriacError, ErrorCodes, normalizeSignature, type SignatureJSON } from '@celeriac/core';

/**
 * Celery's signature dicts by kind (`subtask_type`): a task (null), `chain`, `group`, `chord`,
 * and the built-in map forms `xmap`, `xstarmap` and `chunks`. These helpers read and rewrite
 * the dicts themselves, so a workflow built in Node and one received from Python go through
 * the same code.
 */
export type SignatureKind = 'task' | 'chain' | 'group' | 'chord' | 'xmap' | 'xstarmap' | 'chunks';

const KINDS = new Set<string>(['chain', 'group', 'chord', 'xmap', 'xstarmap', 'chunks']);

export function kindOf(sig: SignatureJSON): SignatureKind {
  const t = sig.subtask_type;
  if (t === null || t === undefined) return 'task';
  if (KINDS.has(t)) return t as SignatureKind;
  throw new CeleriacError(
    ErrorCodes.INVALID_OPTION,
    `signature "${sig.task}": unknown subtask_type "${String(t)}"; Celeriac sends tasks, chain, group, chord, xmap, xstarmap and chunks`,
    { details: { option: 'subtask_type', value: t } },
  );
}

function shapeError(sig: SignatureJSON, what: string): CeleriacError {
  return new CeleriacError(
    ErrorCodes.INVALID_OPTION,
    `signature "${sig.task}" (${String(sig.subtask_type)}): ${what}`,
  );
}

function asSig(sig: SignatureJSON, value: unknown, what: string): SignatureJSON {
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as SignatureJSON).task !== 'string'
  )
    throw shapeError(sig, `${what} is not a signature`);
  return normalizeSignature(value as SignatureJSON);
}

function asList(sig: SignatureJSON, value: unknown, what: string): SignatureJSON[] {
  if (!Array.isArray(value)) throw shapeError(sig, `${what} is not a list of signatures`);
  return value.map((v, i) => asSig(sig, v, `${what}[${i}]`));
}

/** A chain's or group's `kwargs.tasks`. */
export function tasksOf(sig: SignatureJSON): SignatureJSON[] {
  return asList(sig, sig.kwargs['tasks'], 'kwargs.tasks');
}

/** A chord's header parts: `kwargs.header` is a list, or a group dict once Celery froze it. */
export function headerOf(sig: SignatureJSON): { tasks: SignatureJSON[]; groupId?: string } {
  const header = sig.kwargs['header'];
  if (!Array.isArray(header)) {
    const group = asSig(sig, header, 'kwargs.header');
    const id = group.options['task_id'];
    return { tasks: tasksOf(group), ...(typeof id === 'string' ? { groupId: id } : {}) };
  }
  return { tasks: asList(sig, header, 'kwargs.header') };
}

export function bodyOf(sig: SignatureJSON): SignatureJSON {
  return asSig(sig, sig.kwargs['body'], 'kwargs.body');
}

function base(task: string, kwargs: Record<string, unknown>, subtaskType: string): SignatureJSON {
  return { task, args: [], kwargs, options: {}, subtask_type: subtaskType, immutable: false };
}

export function chainJSON(tasks: SignatureJSON[]): SignatureJSON {
  return base('celery.chain', { tasks }, 'chain');
}

export function groupJSON(tasks: SignatureJSON[]): SignatureJSON {
  return base('celery.group', { tasks }, 'group');
}

/** Celery's chord dict: `kwargs.header` (a list or a group dict), `kwargs.body`. */
export function chordJSON(
  header: SignatureJSON[] | SignatureJSON,
  body: SignatureJSON,
): SignatureJSON {
  return base('celery.chord', { kwargs: {}, header, body }, 'chord');
}

/** A copy with `kwargs` keys replaced. */
export function withKwargs(sig: SignatureJSON, kwargs: Record<string, unknown>): SignatureJSON {
  return { ...sig, kwargs: { ...sig.kwargs, ...kwargs } };
}

/** A copy with `options` keys replaced. */
export function withOptions(sig: SignatureJSON, options: Record<string, unknown>): SignatureJSON {
  return { ...sig, options: { ...sig.options, ...options } };
}

/**
 * Celery's partial args: `args` go to whatever runs first, before its own args (`prepend`,
 * as a chain step or callback gets the previous result) or after them (Node's
 * `applyAsync(args)`). A chain gives them to its first step, a group to each part, a chord to
 * each header part; immutable signatures and the map forms take none.
 */
export function withArgs(
  sig: SignatureJSON,
  args: readonly unknown[],
  prepend = true,
): SignatureJSON {
  if (args.length === 0 || sig.immutable) return sig;
  switch (kindOf(sig)) {
    case 'task':
      return { ...sig, args: prepend ? [...args, ...sig.args] : [...sig.args, ...args] };
    case 'chain': {
      const [first, ...rest] = tasksOf(sig);
      return first ? withKwargs(sig, { tasks: [withArgs(first, args, prepend), ...rest] }) : sig;
    }
    case 'group':
      return withKwargs(sig, { tasks: tasksOf(sig).map((t) => withArgs(t, args, prepend)) });
    case 'chord': {
      const header = headerOf(sig);
      const tasks = header.tasks.map((t) => withArgs(t, args, prepend));
      const group = header.groupId
        ? withOptions(groupJSON(tasks), { task_id: header.groupId })
        : tasks;
      return withKwargs(sig, { header: group });
    }
    case 'xmap':
    case 'xstarmap':
    case 'chunks':
      return sig;
  }
}

/** Celery's `chunks.group()`: a group of `celery.starmap` tasks of `n` items each. */
export function chunksGroup(sig: SignatureJSON, queueFor: (task: string) => string): SignatureJSON {
  const task = asSig(sig, sig.kwargs['task'], 'kwargs.task');
  const it = sig.kwargs['it'];
  const n = sig.kwargs['n'];
  if (!Array.isArray(it)) throw shapeError(sig, 'kwargs.it is not a list');
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
    throw shapeError(sig, 'kwargs.n is not a positive integer');
  const parts: SignatureJSON[] = [];
  for (let i = 0; i < it.length; i += n)
    parts.push(mapJSON('xstarmap', task, it.slice(i, i + n), queueFor));
  return withOptions(groupJSON(parts), sig.options);
}

/** Celery's `xmap` / `xstarmap` dict: the built-in task, routed where the named task goes. */
export function mapJSON(
  kind: 'xmap' | 'xstarmap',
  task: SignatureJSON,
  it: readonly unknown[],
  queueFor: (task: string) => string,
): SignatureJSON {
  const queue =
    typeof task.options['queue'] === 'string' ? task.options['queue'] : queueFor(task.task);
  return {
    task: kind === 'xmap' ? 'celery.map' : 'celery.starmap',
    args: [],
    kwargs: { task, it: [...it] },
    options: { queue },
    subtask_type: kind,
    immutable: true,
  };
}

/** `a | b` as Celery's `__or__` reads it, on dicts. */
function or(a: SignatureJSON, b: SignatureJSON): SignatureJSON {
  const ka = kindOf(a);
  if (ka === 'group') return chordJSON(a, b); // group | x -> chord
  if (ka === 'chord' && kindOf(b) !== 'group' && kindOf(b) !== 'chain')
    return withKwargs(a, { body: or(bodyOf(a), b) }); // chord | task -> onto the body
  if (ka === 'chain') return chainJSON(chainSteps([...tasksOf(a), b]));
  return chainJSON(chainSteps([a, b]));
}

/**
 * A chain's steps as Celery's `chain(a, b, c)` (`a | b | c`) arranges them: nested chains
 * are spliced in, a group followed by a step becomes a chord with that step as its body, and
 * a step after a chord joins the chord's body, and a group of one followed by a step is
 * unrolled into its one part. What is left is a list where a group can only be last and a
 * chord is always last.
 */
export function chainSteps(tasks: readonly SignatureJSON[]): SignatureJSON[] {
  const flat: SignatureJSON[] = [];
  const spread = (into: SignatureJSON[], t: SignatureJSON): void => {
    if (kindOf(t) === 'chain') for (const s of tasksOf(t)) spread(into, s);
    else into.push(t);
  };
  for (const t of tasks) spread(flat, t);
  // Celery's `maybe_unroll_group`: a group of one followed by a step is that one part, so the
  // step receives its result itself, not a list of one. A last group stays a group (its
  // result type says GroupResult).
  for (let i = 0; i < flat.length - 1;) {
    const t = flat[i]!;
    const members = kindOf(t) === 'group' ? tasksOf(t) : [];
    if (members.length !== 1) {
      i++;
      continue;
    }
    const inner: SignatureJSON[] = [];
    spread(inner, members[0]!);
    flat.splice(i, 1, ...inner);
  }
  const out: SignatureJSON[] = [];
  for (const t of flat) {
    const last = out[out.length - 1];
    if (last === undefined || kindOf(t) === 'group') out.push(t);
    else if (kindOf(last) === 'group' || kindOf(last) === 'chord')
      out[out.length - 1] = or(last, t);
    else out.push(t);
  }
  return out;
}

/** Celery's `_chord._descend`: how many part completions this header part adds to a chord. */
export function chordSize(sig: SignatureJSON): number {
  switch (kindOf(sig)) {
    case 'task':
    case 'xmap':
    case 'xstarmap':
      return 1;
    case 'group':
      return tasksOf(sig).reduce((n, t) => n + chordSize(t), 0);
    case 'chain': {
      const tasks = tasksOf(sig);
      for (let i = tasks.length - 1; i >= 0; i--) {
        const n = chordSize(tasks[i]!);
        if (n > 0) return n;
      }
      return 0;
    }
    case 'chord':
      return chordSize(bodyOf(sig));
    case 'chunks': {
      const it = sig.kwargs['it'];
      const n = sig.kwargs['n'];
      return Array.isArray(it) && typeof n === 'number' && n > 0 ? Math.ceil(it.length / n) : 0;
    }
  }
}

/** Where a header part reports to its chord: the group id, its place, and the chord's body. */
export interface ChordSlot {
  groupId: string;
  groupIndex: number;
  chord: SignatureJSON;
}

/**
 * Writes a chord slot into a signature that a worker sends later (a chain's last step, a
 * nested chord's body): the task that finishes it carries the group and the chord, as
 * Celery's `prepare_steps` and `chord.apply_async` arrange.
 */
export function withSlot(sig: SignatureJSON, slot: ChordSlot): SignatureJSON {
  switch (kindOf(sig)) {
    case 'task':
    case 'xmap':
    case 'xstarmap':
      return withOptions(sig, {
        group_id: slot.groupId,
        group_index: slot.groupIndex,
        chord: slot.chord,
      });
    case 'chain': {
      const tasks = tasksOf(sig);
      const last = tasks.pop();
      return last ? withKwargs(sig, { tasks: [...tasks, withSlot(last, slot)] }) : sig;
    }
    case 'chord':
      return withKwargs(sig, { body: withSlot(bodyOf(sig), slot) });
    case 'group':
    case 'chunks':
      throw shapeError(sig, 'a group cannot end a chain or chord body inside a chord header');
  }
}
