/** What `celery inspect stats` reports of a worker, gathered when asked. */
export interface StatsSource {
  readonly totals: ReadonlyMap<string, number>;
  readonly startedAt: number;
  readonly concurrency: number;
  readonly prefetch: number;
  readonly pool: string;
  readonly transport: string;
}

/** Celery's `stats` reply for a worker (the fields a Celeriac worker has). */
export function workerStats(s: StatsSource): Record<string, unknown> {
  return {
    total: Object.fromEntries(s.totals),
    pid: process.pid,
    uptime: Math.round((Date.now() - s.startedAt) / 1000),
    pool: { 'max-concurrency': s.concurrency, implementation: s.pool, processes: [process.pid] },
    prefetch_count: s.prefetch,
    broker: { transport: s.transport },
    sw_ident: 'celeriac',
    sw_sys: process.platform,
    sw_ver: process.version,
  };
}
