import {
  BeatEntries,
  describeSchedule,
  scheduleFromJSON,
  type ScheduleStore,
  type StoredEntry,
} from '@celeriac/beat';
import type { Celeriac } from '@celeriac/client';
import { broadcastCommand } from '@celeriac/client/internal';
import type { DeadLetter, Logger } from '@celeriac/core';
import type { DashboardState } from './state/dashboard-state.js';

/** One queue as the queues view shows it. */
export interface QueueInfo {
  name: string;
  /** Ready messages (`broker.count`). */
  length: number;
  /** Messages held for a later delivery time (ETA, countdown, retry). */
  delayed: number;
  deadLetters: number;
  /** Tasks received from it per second over the last minute (from events). */
  rate: number;
  /** The workers whose `active_queues` name it. */
  consumers: string[];
}

/** One dead letter as the page shows it (the message body stays on the server). */
export interface DeadLetterInfo {
  id: string;
  queue: string;
  code: string;
  reason: string;
  deadAt: number;
  task: string | null;
  taskId: string | null;
  args: string | null;
  kwargs: string | null;
}

/** One beat entry as the page shows it. Times are epoch milliseconds. */
export interface BeatEntryInfo {
  name: string;
  task: string;
  schedule: string;
  enabled: boolean;
  nextRunAt: number | null;
  lastRunAt: number | null;
  totalRunCount: number;
}

/** The beat view: its entries and who leads, or why there is none. */
export interface BeatInfo {
  available: boolean;
  entries: BeatEntryInfo[];
  leader: string | null;
  /** Why there is no schedule to show, when `available` is false. */
  reason?: string;
}

const MAX_QUEUES = 200;
const header = (d: DeadLetter, name: string): string | null => {
  const v = d.message.headers[name];
  return typeof v === 'string' ? v : null;
};

function entryInfo(e: StoredEntry): BeatEntryInfo {
  let schedule: string;
  try {
    schedule = describeSchedule(scheduleFromJSON(e.definition.schedule));
  } catch {
    schedule = JSON.stringify(e.definition.schedule);
  }
  return {
    name: e.definition.name,
    task: e.definition.task,
    schedule,
    enabled: e.state.enabled,
    nextRunAt: e.state.nextRunAt,
    lastRunAt: e.state.lastRunAt,
    totalRunCount: e.state.totalRunCount,
  };
}

/**
 * What the dashboard asks the cluster (not its events): the workers' `stats` and
 * `active_queues` over remote control, queue lengths and dead letters from the broker, beat
 * entries from the schedule store. Reads only; the actions are separate methods.
 */
export class Cluster {
  readonly #app: Celeriac;
  readonly #state: DashboardState;
  readonly #queues: readonly string[];
  readonly #beat: BeatEntries | null;
  readonly #beatReason: string;
  readonly #logger: Logger;

  constructor(o: {
    app: Celeriac;
    state: DashboardState;
    queues: readonly string[];
    scheduleStore: ScheduleStore | null;
    beatReason: string;
    logger: Logger;
  }) {
    this.#app = o.app;
    this.#state = o.state;
    this.#queues = o.queues;
    this.#beat = o.scheduleStore ? new BeatEntries(o.scheduleStore) : null;
    this.#beatReason = o.beatReason;
    this.#logger = o.logger;
  }

  /**
   * One round of `stats` and `active_queues` to every worker (Celery's and Celeriac's); a
   * reply proves a worker alive for `validMs`. Brokers without remote control are skipped.
   */
  async refreshWorkers(nowMs: () => number, validMs: number, timeoutS = 1): Promise<void> {
    const broker = await this.#app.broker();
    if (!broker.control) return;
    const [stats, queues] = await Promise.all([
      broadcastCommand(broker, 'stats', {}, { timeout: timeoutS }),
      broadcastCommand(broker, 'active_queues', {}, { timeout: timeoutS }),
    ]);
    const now = nowMs();
    for (const [host, reply] of Object.entries(stats))
      this.#state.applyStats(host, reply, now, validMs);
    for (const [host, reply] of Object.entries(queues)) this.#state.applyActiveQueues(host, reply);
  }

  /** The queues to show: the configured ones, the app's default, what workers consume and events named. */
  queueNames(): string[] {
    const names = new Set<string>([...this.#queues, this.#app.options.defaultQueue]);
    for (const w of this.#state.workers.list()) for (const q of w.queues ?? []) names.add(q);
    for (const q of this.#state.queueRates.names()) names.add(q);
    return [...names].slice(0, MAX_QUEUES).sort();
  }

  async queueInfo(nowMs: number): Promise<QueueInfo[]> {
    const broker = await this.#app.broker();
    const workers = this.#state.workers.list();
    return Promise.all(
      this.queueNames().map(async (name) => {
        const [length, delayed, deadLetters] = await Promise.all([
          broker.count(name),
          broker.countDelayed(name),
          broker.deadLetters.count(name),
        ]);
        return {
          name,
          length,
          delayed,
          deadLetters,
          rate: this.#state.queueRates.rate(name, nowMs),
          consumers: workers
            .filter((w) => w.online && (w.queues ?? []).includes(name))
            .map((w) => w.hostname),
        };
      }),
    );
  }

  /** The dead letters of `queue`, or of every shown queue; newest first as the store lists them. */
  async deadLetters(queue: string | undefined, limit: number): Promise<DeadLetterInfo[]> {
    const broker = await this.#app.broker();
    const out: DeadLetterInfo[] = [];
    for (const q of queue === undefined ? this.queueNames() : [queue]) {
      for (const d of await broker.deadLetters.list(q, { limit })) {
        out.push({
          id: d.id,
          queue: d.queue,
          code: d.reason.code,
          reason: d.reason.message,
          deadAt: d.deadAt,
          task: header(d, 'task'),
          taskId: header(d, 'id'),
          args: header(d, 'argsrepr'),
          kwargs: header(d, 'kwargsrepr'),
        });
      }
    }
    return out;
  }

  async replayDeadLetters(queue: string, ids: readonly string[] | undefined): Promise<number> {
    const n = await (await this.#app.broker()).deadLetters.replay(queue, ids);
    this.#logger.info(
      { queue, ids: ids ?? 'all', replayed: n },
      'dashboard: dead letters replayed',
    );
    return n;
  }

  async purgeDeadLetters(queue: string): Promise<number> {
    const n = await (await this.#app.broker()).deadLetters.purge(queue);
    this.#logger.info({ queue, purged: n }, 'dashboard: dead letters purged');
    return n;
  }

  async beat(nowMs: number): Promise<BeatInfo> {
    if (!this.#beat)
      return { available: false, entries: [], leader: null, reason: this.#beatReason };
    const [entries, leader] = await Promise.all([
      this.#beat.list(),
      this.#beat.store.leader(nowMs),
    ]);
    return { available: true, entries: entries.map(entryInfo), leader: leader?.owner ?? null };
  }

  /** Pauses or resumes an entry; false when there is no such entry (or no schedule store). */
  async setBeatEnabled(name: string, enabled: boolean): Promise<boolean> {
    if (!this.#beat) return false;
    const ok = await (enabled ? this.#beat.resume(name) : this.#beat.pause(name));
    if (ok) this.#logger.info({ entry: name, enabled }, 'dashboard: beat entry changed');
    return ok;
  }

  async revoke(id: string, terminate: boolean): Promise<void> {
    await this.#app.control.revoke(id, { terminate });
    this.#logger.info({ taskId: id, terminate }, 'dashboard: task revoked');
  }

  /** The result backend's document for one task (the detail view): one read, no polling. */
  async result(id: string): Promise<unknown> {
    if (this.#app.options.backendUrl === false) return null;
    try {
      return await (await this.#app.resultBackend()).get(id);
    } catch (err) {
      this.#logger.debug({ err, taskId: id }, 'dashboard: result read failed');
      return null;
    }
  }
}
