import { num, text, type DashboardEvent } from './celery-event.js';

/** The states a task goes through as its events tell them (Celery's, plus `RECEIVED`). */
export type TaskState =
  'PENDING' | 'RECEIVED' | 'STARTED' | 'RETRY' | 'SUCCESS' | 'FAILURE' | 'REVOKED' | 'REJECTED';

/** Every task state, for the search filter. */
export const TASK_STATES: readonly TaskState[] = [
  'PENDING',
  'RECEIVED',
  'STARTED',
  'RETRY',
  'SUCCESS',
  'FAILURE',
  'REVOKED',
  'REJECTED',
];

const READY: ReadonlySet<TaskState> = new Set(['SUCCESS', 'FAILURE', 'REVOKED', 'REJECTED']);

/** What the dashboard knows of one task, from its events. Times are epoch seconds. */
export interface TaskRecord {
  uuid: string;
  name: string | null;
  state: TaskState;
  /** The worker that received it. */
  hostname: string | null;
  queue: string | null;
  /** Reprs, as Celery's events carry them. */
  args: string | null;
  kwargs: string | null;
  result: string | null;
  exception: string | null;
  traceback: string | null;
  retries: number;
  /** Seconds the task ran (task-succeeded). */
  runtime: number | null;
  eta: string | null;
  expires: string | null;
  parentId: string | null;
  rootId: string | null;
  /** Ids of the tasks whose `parent_id` is this one, as far as their events were seen. */
  children: string[];
  sent: number | null;
  received: number | null;
  started: number | null;
  succeeded: number | null;
  failed: number | null;
  retried: number | null;
  revoked: number | null;
  rejected: number | null;
  /** The timestamp of the latest event. */
  timestamp: number;
  /** task-revoked: whether the running task was terminated, and whether it had expired. */
  terminated: boolean | null;
  expired: boolean | null;
}

/** A search of the kept tasks; every given criterion must match. */
export interface TaskQuery {
  /** A substring of the id or the name (case-insensitive). */
  search?: string | undefined;
  state?: TaskState | undefined;
  name?: string | undefined;
  /** @default 100 */
  limit?: number | undefined;
}

function blank(uuid: string, timestamp: number): TaskRecord {
  return {
    uuid,
    name: null,
    state: 'PENDING',
    hostname: null,
    queue: null,
    args: null,
    kwargs: null,
    result: null,
    exception: null,
    traceback: null,
    retries: 0,
    runtime: null,
    eta: null,
    expires: null,
    parentId: null,
    rootId: null,
    children: [],
    sent: null,
    received: null,
    started: null,
    succeeded: null,
    failed: null,
    retried: null,
    revoked: null,
    rejected: null,
    timestamp,
    terminated: null,
    expired: null,
  };
}

/** The state a task event moves a task to, or null for a type that is not a task event. */
export function stateOfEvent(type: string): TaskState | null {
  switch (type) {
    case 'task-sent':
      return 'PENDING';
    case 'task-received':
      return 'RECEIVED';
    case 'task-started':
      return 'STARTED';
    case 'task-succeeded':
      return 'SUCCESS';
    case 'task-failed':
      return 'FAILURE';
    case 'task-retried':
      return 'RETRY';
    case 'task-revoked':
      return 'REVOKED';
    case 'task-rejected':
      return 'REJECTED';
    default:
      return null;
  }
}

/**
 * The tasks seen in events, at most `max` of them: the least recently updated one goes first
 * when a new one comes (a Map keeps insertion order; an update re-inserts its task at the end).
 */
export class TaskStore {
  readonly #max: number;
  readonly #tasks = new Map<string, TaskRecord>();
  /** Children seen before their parent, by parent id (bounded like the tasks). */
  readonly #orphans = new Map<string, string[]>();

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#tasks.size;
  }

  get(uuid: string): TaskRecord | undefined {
    return this.#tasks.get(uuid);
  }

  /**
   * Applies one `task-*` event; returns the updated task, or null when the event has no task
   * id or is not a task event.
   */
  apply(e: DashboardEvent): TaskRecord | null {
    const next = stateOfEvent(e.type);
    const uuid = text(e, 'uuid');
    if (next === null || uuid === null) return null;
    const ts = num(e, 'timestamp') ?? 0;
    const task = this.#touch(uuid, ts);
    task.timestamp = Math.max(task.timestamp, ts);
    task.name = text(e, 'name') ?? task.name;
    const queue = text(e, 'queue') ?? text(e, 'routing_key');
    if (queue) task.queue = queue;
    // Events may arrive out of order (two connections, clock skew): a late received or
    // started never takes a task out of a final state, it only fills in its fields.
    if (!READY.has(task.state) || READY.has(next)) task.state = next;
    switch (e.type) {
      case 'task-sent':
        task.sent = ts;
        break;
      case 'task-received':
        task.received = ts;
        task.hostname = e.hostname || task.hostname;
        break;
      case 'task-started':
        task.started = ts;
        task.hostname = e.hostname || task.hostname;
        break;
      case 'task-succeeded':
        task.succeeded = ts;
        task.result = text(e, 'result');
        task.runtime = num(e, 'runtime');
        break;
      case 'task-failed':
        task.failed = ts;
        task.exception = text(e, 'exception');
        task.traceback = text(e, 'traceback');
        break;
      case 'task-retried':
        task.retried = ts;
        task.exception = text(e, 'exception');
        task.traceback = text(e, 'traceback');
        break;
      case 'task-revoked':
        task.revoked = ts;
        task.terminated = e['terminated'] === true;
        task.expired = e['expired'] === true;
        break;
      case 'task-rejected':
        task.rejected = ts;
        break;
    }
    task.args = text(e, 'args') ?? task.args;
    task.kwargs = text(e, 'kwargs') ?? task.kwargs;
    task.retries = num(e, 'retries') ?? task.retries;
    task.eta = text(e, 'eta') ?? task.eta;
    task.expires = text(e, 'expires') ?? task.expires;
    task.rootId = text(e, 'root_id') ?? task.rootId;
    const parent = text(e, 'parent_id');
    if (parent && parent !== task.parentId) {
      task.parentId = parent;
      const p = this.#tasks.get(parent);
      if (p) {
        if (!p.children.includes(uuid)) p.children.push(uuid);
      } else {
        const waiting = this.#orphans.get(parent) ?? [];
        if (!waiting.includes(uuid)) waiting.push(uuid);
        this.#orphans.set(parent, waiting);
        if (this.#orphans.size > this.#max)
          this.#orphans.delete(this.#orphans.keys().next().value ?? '');
      }
    }
    return task;
  }

  /** The task with this id, created when new, moved to the most recent end. */
  #touch(uuid: string, ts: number): TaskRecord {
    let task = this.#tasks.get(uuid);
    if (task) {
      this.#tasks.delete(uuid);
    } else {
      task = blank(uuid, ts);
      // Children whose events came first: linked now that their parent is known.
      const waiting = this.#orphans.get(uuid);
      if (waiting) {
        task.children.push(...waiting);
        this.#orphans.delete(uuid);
      }
      while (this.#tasks.size >= this.#max) {
        const oldest = this.#tasks.keys().next();
        if (oldest.done) break;
        this.#tasks.delete(oldest.value);
      }
    }
    this.#tasks.set(uuid, task);
    return task;
  }

  /** The kept tasks that match, most recently updated first. */
  query(q: TaskQuery = {}): TaskRecord[] {
    const limit = q.limit ?? 100;
    const needle = q.search?.trim().toLowerCase() ?? '';
    const all = [...this.#tasks.values()];
    const out: TaskRecord[] = [];
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      const t = all[i];
      if (!t) continue;
      if (q.state && t.state !== q.state) continue;
      if (q.name && t.name !== q.name) continue;
      if (
        needle &&
        !t.uuid.toLowerCase().includes(needle) &&
        !(t.name ?? '').toLowerCase().includes(needle)
      )
        continue;
      out.push(t);
    }
    return out;
  }

  /** How many kept tasks are in each state. */
  countByState(): Record<TaskState, number> {
    const counts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
    for (const t of this.#tasks.values()) counts[t.state]++;
    return counts;
  }
}
