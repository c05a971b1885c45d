import { randomUUID } from 'node:crypto';
import { CeleriacError, ErrorCodes, type SignatureJSON } from '@celeriac/core';
import { AsyncResult } from '../async-result.js';
import { GroupResult } from '../group-result.js';
import type { SignatureSendExtra } from '../task-message.js';
import { assertUnlockable, unlockResultId, unlockSignature } from '../chord-unlock.js';
import {
  bodyOf,
  chainJSON,
  chainSteps,
  chordSize,
  chunksGroup,
  groupJSON,
  headerOf,
  kindOf,
  tasksOf,
  withArgs,
  withKwargs,
  withOptions,
  withSlot,
  type ChordSlot,
} from './json.js';
import type { CanvasApp, CanvasResult } from './signature.js';

interface Env {
  readonly app: CanvasApp;
  /** Settles once the whole first publish (every message sent now) settled. */
  readonly published: Promise<void>;
}

interface FreezeOptions {
  /** The id the result gets when the signature names none (a chain's `task_id` goes to its last step). */
  id?: string | undefined;
  rootId?: string | undefined;
  /** Its place in the group or chord header it is part of. */
  groupIndex?: number | undefined;
}

interface Frozen {
  sig: SignatureJSON;
  result: CanvasResult;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The first result of a chain of parents (a chord's body chain ends at the header's group). */
function rootOf(result: CanvasResult): CanvasResult {
  let node = result;
  const seen = new Set<string>();
  while (node.parent instanceof AsyncResult || node.parent instanceof GroupResult) {
    if (seen.has(node.id)) break;
    seen.add(node.id);
    node = node.parent;
  }
  return node;
}

/**
 * Celery's `freeze`: gives every task of the workflow its id now (kept in `options.task_id`,
 * as Celery's frozen dicts carry it) and builds the result tree, parents linked, before
 * anything is sent. Idempotent on a frozen dict.
 */
function freeze(env: Env, sig: SignatureJSON, o: FreezeOptions): Frozen {
  const kind = kindOf(sig);
  switch (kind) {
    case 'task':
    case 'xmap':
    case 'xstarmap': {
      const id = str(sig.options['task_id']) ?? o.id ?? randomUUID();
      const options: Record<string, unknown> = { task_id: id };
      if (o.rootId) options['root_id'] = o.rootId;
      if (o.groupIndex !== undefined) options['group_index'] = o.groupIndex;
      if (kind !== 'task' && sig.options['queue'] === undefined) {
        // Celery routes the map forms by the task they map (`route_name`).
        const inner = sig.kwargs['task'] as { task?: unknown } | undefined;
        options['queue'] = env.app.queueFor(
          typeof inner?.task === 'string' ? inner.task : sig.task,
        );
      }
      const result = new AsyncResult(id, env.app, { name: sig.task, published: env.published });
      return { sig: withOptions(sig, options), result };
    }
    case 'chunks':
      return freeze(
        env,
        chunksGroup(sig, (t) => env.app.queueFor(t)),
        o,
      );
    case 'group':
      return freezeGroup(env, sig, o);
    case 'chord':
      return freezeChord(env, sig, o);
    case 'chain':
      return freezeChain(env, sig, o);
  }
}

/** The parts of a group, nested groups unrolled into it (Celery runs them all in parallel). */
function flatParts(env: Env, sig: SignatureJSON): SignatureJSON[] {
  return tasksOf(sig).flatMap((t) => {
    const k = kindOf(t);
    if (k === 'group') return flatParts(env, t);
    if (k === 'chunks')
      return flatParts(
        env,
        chunksGroup(t, (n) => env.app.queueFor(n)),
      );
    return [t];
  });
}

function freezeParts(
  env: Env,
  parts: SignatureJSON[],
  rootId: string | undefined,
): { tasks: SignatureJSON[]; results: AsyncResult[] } {
  const tasks: SignatureJSON[] = [];
  const results: AsyncResult[] = [];
  parts.forEach((part, groupIndex) => {
    const f = freeze(env, part, { rootId, groupIndex });
    if (f.result instanceof GroupResult) {
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `group: part ${groupIndex} (${part.task}) ends in a group; a group or chord header cannot hold a chain that ends in a group (end it with a task, or use a chord)`,
      );
    }
    tasks.push(f.sig);
    results.push(f.result);
  });
  return { tasks, results };
}

function freezeGroup(env: Env, sig: SignatureJSON, o: FreezeOptions): Frozen {
  const groupId = str(sig.options['task_id']) ?? randomUUID();
  const rootId = o.rootId ?? str(sig.options['root_id']);
  const { tasks, results } = freezeParts(env, flatParts(env, sig), rootId);
  const frozen = withKwargs(withOptions(sig, { task_id: groupId }), { tasks });
  return { sig: frozen, result: new GroupResult(groupId, results, env.app) };
}

function freezeChord(env: Env, sig: SignatureJSON, o: FreezeOptions): Frozen {
  const header = headerOf(sig);
  const groupId = header.groupId ?? str(sig.options['task_id']) ?? randomUUID();
  const body = freeze(env, bodyOf(sig), o);
  const parts = flatParts(env, groupJSON(header.tasks));
  const { tasks, results } = freezeParts(env, parts, o.rootId);
  const headerResult = new GroupResult(groupId, results, env.app);
  rootOf(body.result).parent = headerResult;
  const group = withOptions(groupJSON(tasks), { task_id: groupId });
  const frozen = withOptions(withKwargs(sig, { header: group, body: body.sig }), {
    task_id: groupId,
  });
  return { sig: frozen, result: body.result };
}

/**
 * Celery's `chain.prepare_steps`, last step first: the last step gets the chain's `task_id`
 * and its place in an enclosing group; each step's result has the step before as `parent`
 * (for a chord, its header's group); the chain's `link_error` goes to every step.
 */
function freezeChain(env: Env, sig: SignatureJSON, o: FreezeOptions): Frozen {
  const steps = chainSteps(tasksOf(sig));
  if (steps.length === 0) throw new CeleriacError(ErrorCodes.INVALID_OPTION, 'chain: no steps');
  const linkError = Array.isArray(sig.options['link_error'])
    ? (sig.options['link_error'] as SignatureJSON[])
    : [];
  const rootId = o.rootId ?? str(sig.options['root_id']);
  const out: SignatureJSON[] = [];
  let last: CanvasResult | undefined;
  let later: CanvasResult | undefined;
  for (let i = steps.length - 1; i >= 0; i--) {
    let step = steps[i]!;
    if (linkError.length > 0) step = withLinkError(step, linkError);
    const isLast = i === steps.length - 1;
    const f = freeze(
      env,
      step,
      isLast
        ? { id: o.id ?? str(sig.options['task_id']), rootId, groupIndex: o.groupIndex }
        : { rootId },
    );
    if (later && later.parent === undefined) later.parent = f.result;
    last ??= f.result;
    later = kindOf(f.sig) === 'chord' ? rootOf(f.result) : f.result;
    out.unshift(f.sig);
  }
  // The steps carry the errbacks now; kept on the chain too, a re-send would add them twice.
  const { link_error: _given, ...options } = sig.options;
  return { sig: withKwargs({ ...sig, options }, { tasks: out }), result: last! };
}

/** Celery's `link_error` on a workflow: every task of a group, a chord's body. */
function withLinkError(sig: SignatureJSON, errbacks: SignatureJSON[]): SignatureJSON {
  switch (kindOf(sig)) {
    case 'group':
      return withKwargs(sig, { tasks: tasksOf(sig).map((t) => withLinkError(t, errbacks)) });
    case 'chord':
      return withKwargs(sig, { body: withLinkError(bodyOf(sig), errbacks) });
    case 'chain':
      return withKwargs(sig, { tasks: tasksOf(sig).map((t) => withLinkError(t, errbacks)) });
    default: {
      const own: unknown[] = Array.isArray(sig.options['link_error'])
        ? (sig.options['link_error'] as unknown[])
        : [];
      return withOptions(sig, { link_error: [...own, ...errbacks] });
    }
  }
}

interface SendContext {
  parentId?: string | undefined;
  rootId?: string | undefined;
  /** The steps after this one, reversed (the next is last). */
  chain?: SignatureJSON[] | undefined;
  /** The chord header this is part of. */
  slot?: ChordSlot | undefined;
  /** The group this is part of (no chord). */
  groupId?: string | undefined;
}

function plainExtra(ctx: SendContext, groupIndex: unknown): SignatureSendExtra {
  const extra: SignatureSendExtra = {};
  if (ctx.parentId) extra.parentId = ctx.parentId;
  if (ctx.rootId) extra.rootId = ctx.rootId;
  if (ctx.chain && ctx.chain.length > 0) extra.chain = ctx.chain;
  const groupId = ctx.slot?.groupId ?? ctx.groupId;
  if (groupId) extra.groupId = groupId;
  const index = ctx.slot?.groupIndex ?? groupIndex;
  if (typeof index === 'number') extra.groupIndex = index;
  return extra;
}

/** Publishes what a frozen signature sends now; the rest travels inside the messages. */
async function send(env: Env, sig: SignatureJSON, ctx: SendContext): Promise<void> {
  const kind = kindOf(sig);
  switch (kind) {
    case 'task':
    case 'xmap':
    case 'xstarmap': {
      let plain: SignatureJSON = kind === 'task' ? sig : { ...sig, subtask_type: null };
      // A chord header part carries the group (a Python worker re-freezes the part's own).
      if (ctx.slot) plain = withOptions(plain, { chord: ctx.slot.chord });
      await env.app.sendSignature(plain, plainExtra(ctx, sig.options['group_index'])).published;
      return;
    }
    case 'group': {
      const groupId = str(sig.options['task_id'])!;
      await Promise.all(
        tasksOf(sig).map((part) =>
          send(env, part, { parentId: ctx.parentId, rootId: ctx.rootId, groupId }),
        ),
      );
      return;
    }
    case 'chain': {
      const [first, ...rest] = tasksOf(sig);
      if (!first) return;
      const steps = [...rest];
      // A chain inside a chord header: its last step reports to the chord.
      if (ctx.slot && steps.length > 0) steps.push(withSlot(steps.pop()!, ctx.slot));
      await send(env, first, {
        parentId: ctx.parentId,
        rootId: ctx.rootId,
        chain: [...(ctx.chain ?? []), ...steps.reverse()],
        ...(ctx.slot && rest.length === 0 ? { slot: ctx.slot } : {}),
        ...(ctx.groupId && rest.length === 0 ? { groupId: ctx.groupId } : {}),
      });
      return;
    }
    case 'chord':
      return sendChord(env, sig, ctx);
    case 'chunks':
      throw new CeleriacError(ErrorCodes.INVALID_STATE, 'chunks: send a frozen group instead');
  }
}

/**
 * Celery's `chord.run`: sets the chord's size on the result backend (what the header's
 * completions count up to), then sends the header parts, each carrying the body. A chord
 * inside another chord's header passes that slot on to its body.
 */
async function sendChord(env: Env, sig: SignatureJSON, ctx: SendContext): Promise<void> {
  const header = headerOf(sig);
  const groupId = header.groupId!;
  let body = bodyOf(sig);
  if (ctx.slot) body = withSlot(body, ctx.slot);
  const parentIds = { parentId: ctx.parentId, rootId: ctx.rootId };
  if (header.tasks.length === 0) {
    // Celery runs the body of an empty chord at once, with no results.
    await send(env, withArgs(body, [[]]), parentIds);
    return;
  }
  const app = env.app;
  const backend = await app.resultBackend();
  if (!backend.setChordSize) {
    // No native join (SQLite, memory): Celery's `fallback_chord_unlock` (`chord-unlock.ts`).
    assertUnlockable(backend);
    const ids = header.tasks.map(unlockResultId);
    await app.sendSignature(unlockSignature(groupId, body, ids)).published;
    await Promise.all(
      header.tasks.map((part, groupIndex) =>
        send(env, withOptions(part, { group_index: groupIndex }), { ...parentIds, groupId }),
      ),
    );
    return;
  }
  await backend.setChordSize(
    groupId,
    header.tasks.reduce((n, t) => n + chordSize(t), 0),
  );
  await Promise.all(
    header.tasks.map((part, groupIndex) =>
      send(env, part, { ...parentIds, slot: { groupId, groupIndex, chord: body } }),
    ),
  );
}

/**
 * Sends any of Celery's signature dicts (a task, chain, group, chord, xmap, xstarmap,
 * chunks) as Celery's `Signature.from_dict(d).apply_async(...)` would: the partial args
 * (`extra.parentResult`) go to what runs first, the chain remainder (`extra.chain`) follows
 * (a group or chord followed by steps becomes a chord whose body continues with them), and
 * the result comes back at once, ids assigned and parents linked. Published in the
 * background: the result's `published` settles when every message sent now did.
 */
export function sendCanvas(
  app: CanvasApp,
  sig: SignatureJSON,
  extra: SignatureSendExtra = {},
): CanvasResult {
  let prepared = 'parentResult' in extra ? withArgs(sig, [extra.parentResult]) : sig;
  let chain = extra.chain ?? undefined;
  const kind = kindOf(prepared);
  if (chain && chain.length > 0 && kind !== 'task' && kind !== 'xmap' && kind !== 'xstarmap') {
    // What follows a workflow popped from a chain: Celery's `group | rest` / `chord | rest`.
    prepared = chainJSON([prepared, chainJSON([...chain].reverse())]);
    chain = undefined;
  }
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const published = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  published.catch(() => undefined); // every result's `get()` reports it; never unhandled
  const env: Env = { app, published };
  const frozen = freeze(env, prepared, { rootId: extra.rootId });
  send(env, frozen.sig, {
    parentId: extra.parentId,
    rootId: extra.rootId,
    chain,
    groupId: extra.groupId,
  }).then(settle.resolve, settle.reject);
  return frozen.result;
}
