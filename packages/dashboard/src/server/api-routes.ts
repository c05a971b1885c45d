import type { Cluster } from '../cluster.js';
import type { DashboardState } from '../state/dashboard-state.js';
import { TASK_STATES, type TaskState } from '../state/task-store.js';
import { HttpError, type DashboardRoute, type RouteContext } from './http-kit.js';
import type { SseHub } from './sse-hub.js';

/** What the API routes read and act on. */
export interface ApiDeps {
  readonly state: DashboardState;
  readonly cluster: Cluster;
  readonly hub: SseHub;
  readonly now: () => number;
  /** What `/api/config` tells the page (whether to show actions, which broker). */
  readonly config: Readonly<Record<string, unknown>>;
  /** The full page state for a page that connects (events state, queues, beat). */
  readonly snapshot: () => Promise<Record<string, unknown>>;
  /** Pushes fresh queue and beat views to the pages, after an action changed them. */
  readonly refreshViews: () => Promise<void>;
}

function limitOf(ctx: RouteContext, fallback: number, max: number): number {
  const raw = ctx.url.searchParams.get('limit');
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new HttpError(400, 'limit must be an integer >= 1');
  return Math.min(n, max);
}

function queueOf(body: Record<string, unknown>): string {
  const q = body['queue'];
  if (typeof q !== 'string' || q === '') throw new HttpError(400, 'give the "queue" to act on');
  return q;
}

/** The dashboard's JSON API: reads for the views, actions behind `--allow-actions`. */
export function apiRoutes(d: ApiDeps): DashboardRoute[] {
  return [
    { method: 'GET', path: '/healthz', public: true, handle: () => ({ ok: true }) },
    { method: 'GET', path: '/api/config', handle: () => d.config },
    { method: 'GET', path: '/api/snapshot', handle: () => d.snapshot() },
    {
      method: 'GET',
      path: '/api/stream',
      handle: async (ctx) => {
        const first = await d.snapshot();
        d.hub.open(ctx.res, { event: 'snapshot', data: first });
      },
    },
    { method: 'GET', path: '/api/workers', handle: () => d.state.snapshot(d.now()).workers },
    {
      method: 'GET',
      path: '/api/workers/:hostname',
      handle: (ctx) => {
        const w = d.state.workers.get(ctx.params['hostname'] ?? '');
        if (!w) throw new HttpError(404, 'no such worker');
        return w;
      },
    },
    {
      method: 'GET',
      path: '/api/tasks',
      handle: (ctx) => {
        const p = ctx.url.searchParams;
        const state = p.get('state') || undefined;
        if (state !== undefined && !(TASK_STATES as readonly string[]).includes(state))
          throw new HttpError(400, `state must be one of ${TASK_STATES.join(', ')}`);
        return d.state.queryTasks({
          search: p.get('search') ?? undefined,
          name: p.get('name') || undefined,
          state: state as TaskState | undefined,
          limit: limitOf(ctx, 100, 1000),
        });
      },
    },
    {
      method: 'GET',
      path: '/api/tasks/:id',
      handle: async (ctx) => {
        const id = ctx.params['id'] ?? '';
        const task = d.state.tasks.get(id) ?? null;
        const result = await d.cluster.result(id);
        if (!task && !result) throw new HttpError(404, 'no such task in events or results');
        return { task, result };
      },
    },
    {
      method: 'POST',
      path: '/api/tasks/:id/revoke',
      action: true,
      handle: async (ctx) => {
        const body = await ctx.body();
        await d.cluster.revoke(ctx.params['id'] ?? '', body['terminate'] === true);
        return { ok: true };
      },
    },
    { method: 'GET', path: '/api/queues', handle: () => d.cluster.queueInfo(d.now()) },
    {
      method: 'GET',
      path: '/api/dead-letters',
      handle: (ctx) =>
        d.cluster.deadLetters(
          ctx.url.searchParams.get('queue') || undefined,
          limitOf(ctx, 100, 1000),
        ),
    },
    {
      method: 'POST',
      path: '/api/dead-letters/replay',
      action: true,
      handle: async (ctx) => {
        const body = await ctx.body();
        const ids = body['ids'];
        if (ids !== undefined && !(Array.isArray(ids) && ids.every((i) => typeof i === 'string')))
          throw new HttpError(400, '"ids" must be an array of dead-letter ids');
        const replayed = await d.cluster.replayDeadLetters(queueOf(body), ids);
        await d.refreshViews();
        return { replayed };
      },
    },
    {
      method: 'POST',
      path: '/api/dead-letters/purge',
      action: true,
      handle: async (ctx) => {
        const purged = await d.cluster.purgeDeadLetters(queueOf(await ctx.body()));
        await d.refreshViews();
        return { purged };
      },
    },
    { method: 'GET', path: '/api/beat', handle: () => d.cluster.beat(d.now()) },
    ...(['pause', 'resume'] as const).map((verb): DashboardRoute => ({
      method: 'POST',
      path: `/api/beat/:name/${verb}`,
      action: true,
      handle: async (ctx) => {
        const ok = await d.cluster.setBeatEnabled(ctx.params['name'] ?? '', verb === 'resume');
        if (!ok) throw new HttpError(404, 'no such beat entry (or no schedule store)');
        await d.refreshViews();
        return { ok };
      },
    })),
  ];
}
