import { num, text, type DashboardEvent } from './celery-event.js';

/** What the dashboard knows of one worker, from its events and its `stats` replies. */
export interface WorkerRecord {
  hostname: string;
  /** Whether it is alive now: a heartbeat (or a stats reply) not older than its expiry. */
  online: boolean;
  /** Epoch seconds of the latest worker event, as the worker stamped it. */
  lastHeartbeat: number | null;
  /** Seconds between heartbeats the worker announced. */
  freq: number | null;
  /** Tasks running now (worker-heartbeat). */
  active: number | null;
  /** Tasks run since it started (worker-heartbeat). */
  processed: number | null;
  loadavg: number[] | null;
  pid: number | null;
  swIdent: string | null;
  swVer: string | null;
  swSys: string | null;
  /** The pool from `stats` (`max-concurrency`, `processes`, implementation...). */
  pool: Record<string, unknown> | null;
  /** Runs per task name from `stats`. */
  total: Record<string, number> | null;
  /** The queues it consumes (`active_queues`). */
  queues: string[] | null;
  /** The whole `stats` reply, for the detail view. */
  stats: Record<string, unknown> | null;
}

interface Tracked {
  record: WorkerRecord;
  /** Local epoch milliseconds until which it counts as online. */
  aliveUntil: number;
}

/** Celery's default heartbeat interval, when a heartbeat names none. */
const DEFAULT_FREQ_S = 2;

/**
 * The workers seen in `worker-*` events and remote-control replies. A worker is online until
 * twice its heartbeat interval passes without news (Celery's `heartbeat_expires` window of
 * 200 %), or until its `worker-offline`. Times of expiry are the dashboard's own clock: a
 * worker whose clock is off still shows as online while it sends heartbeats.
 */
export class WorkerStore {
  readonly #workers = new Map<string, Tracked>();
  readonly #max: number;

  constructor(max = 1000) {
    this.#max = max;
  }

  #tracked(hostname: string): Tracked {
    let t = this.#workers.get(hostname);
    if (!t) {
      t = {
        aliveUntil: 0,
        record: {
          hostname,
          online: false,
          lastHeartbeat: null,
          freq: null,
          active: null,
          processed: null,
          loadavg: null,
          pid: null,
          swIdent: null,
          swVer: null,
          swSys: null,
          pool: null,
          total: null,
          queues: null,
          stats: null,
        },
      };
      // Bounded: the longest-silent worker goes first.
      if (this.#workers.size >= this.#max) {
        let oldest: string | undefined;
        let until = Infinity;
        for (const [name, w] of this.#workers)
          if (w.aliveUntil < until) [oldest, until] = [name, w.aliveUntil];
        if (oldest !== undefined) this.#workers.delete(oldest);
      }
      this.#workers.set(hostname, t);
    }
    return t;
  }

  /** Applies one `worker-*` event at local time `nowMs`; null for other types. */
  apply(e: DashboardEvent, nowMs: number): WorkerRecord | null {
    if (!e.type.startsWith('worker-') || !e.hostname) return null;
    const t = this.#tracked(e.hostname);
    const r = t.record;
    r.lastHeartbeat = num(e, 'timestamp') ?? r.lastHeartbeat;
    r.freq = num(e, 'freq') ?? r.freq;
    r.active = num(e, 'active') ?? r.active;
    r.processed = num(e, 'processed') ?? r.processed;
    r.pid = num(e, 'pid') ?? r.pid;
    const load = e['loadavg'];
    if (Array.isArray(load)) r.loadavg = load.filter((x): x is number => typeof x === 'number');
    r.swIdent = text(e, 'sw_ident') ?? r.swIdent;
    r.swVer = text(e, 'sw_ver') ?? r.swVer;
    r.swSys = text(e, 'sw_sys') ?? r.swSys;
    t.aliveUntil = e.type === 'worker-offline' ? 0 : nowMs + 2 * (r.freq ?? DEFAULT_FREQ_S) * 1000;
    r.online = t.aliveUntil > nowMs;
    return r;
  }

  /**
   * A `stats` reply of a worker: its pool and totals; a reply also proves it alive for
   * `validMs` (the time until the next stats round, twice over).
   */
  applyStats(hostname: string, stats: unknown, nowMs: number, validMs: number): WorkerRecord {
    const t = this.#tracked(hostname);
    const r = t.record;
    if (typeof stats === 'object' && stats !== null && !('error' in stats)) {
      const s = stats as Record<string, unknown>;
      r.stats = s;
      const pool = s['pool'];
      if (typeof pool === 'object' && pool !== null) r.pool = pool as Record<string, unknown>;
      const total = s['total'];
      if (typeof total === 'object' && total !== null) r.total = total as Record<string, number>;
      if (typeof s['pid'] === 'number') r.pid = s['pid'];
    }
    t.aliveUntil = Math.max(t.aliveUntil, nowMs + validMs);
    r.online = true;
    return r;
  }

  /** An `active_queues` reply: the queue names it consumes. */
  applyQueues(hostname: string, reply: unknown): WorkerRecord | null {
    if (!Array.isArray(reply)) return null;
    const r = this.#tracked(hostname).record;
    r.queues = reply
      .map((q: unknown) =>
        typeof q === 'object' && q !== null && typeof (q as { name?: unknown }).name === 'string'
          ? (q as { name: string }).name
          : null,
      )
      .filter((n): n is string => n !== null);
    return r;
  }

  /**
   * Refreshes `online` at `nowMs`; returns the workers whose status changed (went silent), so
   * the page hears of a worker that died without a `worker-offline`.
   */
  expire(nowMs: number): WorkerRecord[] {
    const changed: WorkerRecord[] = [];
    for (const t of this.#workers.values()) {
      const online = t.aliveUntil > nowMs;
      if (online !== t.record.online) {
        t.record.online = online;
        changed.push(t.record);
      }
    }
    return changed;
  }

  get(hostname: string): WorkerRecord | undefined {
    return this.#workers.get(hostname)?.record;
  }

  list(): WorkerRecord[] {
    return [...this.#workers.values()]
      .map((t) => t.record)
      .sort((a, b) => a.hostname.localeCompare(b.hostname));
  }
}
