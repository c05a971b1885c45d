/**
 * A Celery event dict as the dashboard reads it (`task-*`, `worker-*`): the shape
 * `receiveEvents` from `@celeriac/client` delivers. Fields beyond the common ones are what
 * Celery sends for each type; the dashboard reads them defensively (a Python worker, an older
 * Celeriac or a hand-made event may leave any of them out).
 */
export interface DashboardEvent {
  readonly type: string;
  readonly hostname: string;
  /** Epoch seconds. */
  readonly timestamp: number;
  readonly uuid?: string;
  readonly [field: string]: unknown;
}

/** A string field of an event, or null. */
export function text(e: DashboardEvent, field: string): string | null {
  const v = e[field];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

/** A finite number field of an event, or null. */
export function num(e: DashboardEvent, field: string): number | null {
  const v = e[field];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
