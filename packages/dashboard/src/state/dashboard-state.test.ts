import { describe, expect, it } from 'vitest';
import type { DashboardEvent } from './celery-event.js';
import { DashboardState } from './dashboard-state.js';
import { QueueRates } from './series.js';

const T0 = 1_700_000_000; // epoch seconds
const host = 'celeriac@box';

function ev(type: string, fields: Record<string, unknown> = {}): DashboardEvent {
  return { type, hostname: host, timestamp: T0, ...fields };
}

describe('DashboardState: tasks', () => {
  it('follows a task from sent to succeeded, with its fields and the chart slice', () => {
    const s = new DashboardState();
    const now = T0 * 1000;
    s.apply(ev('task-sent', { uuid: 'a', name: 'tasks.add', queue: 'celery' }), now);
    s.apply(
      ev('task-received', {
        uuid: 'a',
        name: 'tasks.add',
        args: '(2, 3)',
        kwargs: '{}',
        retries: 0,
        root_id: 'a',
        timestamp: T0 + 1,
      }),
      now,
    );
    s.apply(ev('task-started', { uuid: 'a', timestamp: T0 + 1.5 }), now);
    s.apply(
      ev('task-succeeded', { uuid: 'a', result: '5', runtime: 0.25, timestamp: T0 + 2 }),
      now,
    );
    const t = s.tasks.get('a');
    expect(t).toMatchObject({
      uuid: 'a',
      name: 'tasks.add',
      state: 'SUCCESS',
      queue: 'celery',
      args: '(2, 3)',
      kwargs: '{}',
      result: '5',
      runtime: 0.25,
      hostname: host,
      sent: T0,
      received: T0 + 1,
      started: T0 + 1.5,
      succeeded: T0 + 2,
      rootId: 'a',
    });
    const bucket = s.series.snapshot(now).buckets.at(-1);
    expect(bucket).toMatchObject({ received: 1, succeeded: 1, runtimeCount: 1, runtimeSum: 0.25 });
    expect(bucket?.waitSum).toBeCloseTo(0.5);
    expect(s.queueRates.rate('celery', now)).toBeCloseTo(1 / 60);
    expect(s.drain(now).tasks.map((x) => x.uuid)).toEqual(['a']);
    expect(s.drain(now).tasks).toEqual([]);
  });

  it('keeps a final state when a late received or started arrives, and records failures', () => {
    const s = new DashboardState();
    s.apply(ev('task-failed', { uuid: 'f', exception: "ValueError('x')", traceback: 'Tb' }), 0);
    s.apply(ev('task-started', { uuid: 'f' }), 0);
    s.apply(ev('task-received', { uuid: 'f', name: 'tasks.bad', args: '()' }), 0);
    expect(s.tasks.get('f')).toMatchObject({
      state: 'FAILURE',
      name: 'tasks.bad',
      exception: "ValueError('x')",
      traceback: 'Tb',
    });
    s.apply(ev('task-retried', { uuid: 'r', exception: 'E', retries: 1 }), 0);
    s.apply(ev('task-received', { uuid: 'r', retries: 1 }), 0);
    expect(s.tasks.get('r')).toMatchObject({ state: 'RECEIVED', retries: 1 });
    s.apply(ev('task-revoked', { uuid: 'v', terminated: true, signum: 15, expired: false }), 0);
    expect(s.tasks.get('v')).toMatchObject({ state: 'REVOKED', terminated: true, expired: false });
  });

  it('links parents and children whichever arrives first', () => {
    const s = new DashboardState();
    s.apply(ev('task-received', { uuid: 'child1', parent_id: 'p', root_id: 'p' }), 0);
    s.apply(ev('task-received', { uuid: 'p' }), 0);
    s.apply(ev('task-received', { uuid: 'child2', parent_id: 'p' }), 0);
    expect(s.tasks.get('p')?.children).toEqual(['child1', 'child2']);
    expect(s.tasks.get('child2')?.parentId).toBe('p');
  });

  it('keeps at most maxTasks, dropping the least recently updated', () => {
    const s = new DashboardState({ maxTasks: 3 });
    for (const id of ['1', '2', '3']) s.apply(ev('task-received', { uuid: id }), 0);
    s.apply(ev('task-started', { uuid: '1' }), 0); // 1 is now the most recent
    s.apply(ev('task-received', { uuid: '4' }), 0);
    expect(s.tasks.size).toBe(3);
    expect(s.tasks.get('2')).toBeUndefined();
    expect(s.queryTasks({}).map((t) => t.uuid)).toEqual(['4', '1', '3']);
  });

  it('searches by id or name substring and by state', () => {
    const s = new DashboardState();
    s.apply(ev('task-received', { uuid: 'abc-1', name: 'mail.send' }), 0);
    s.apply(ev('task-succeeded', { uuid: 'def-2', name: 'tasks.add' }), 0);
    s.apply(ev('task-failed', { uuid: 'ghi-3', name: 'tasks.add' }), 0);
    expect(s.queryTasks({ search: 'ADD' }).map((t) => t.uuid)).toEqual(['ghi-3', 'def-2']);
    expect(s.queryTasks({ search: 'abc' }).map((t) => t.uuid)).toEqual(['abc-1']);
    expect(s.queryTasks({ state: 'FAILURE' }).map((t) => t.uuid)).toEqual(['ghi-3']);
    expect(s.queryTasks({ name: 'tasks.add', limit: 1 }).map((t) => t.uuid)).toEqual(['ghi-3']);
    expect(s.tasks.countByState()).toMatchObject({ RECEIVED: 1, SUCCESS: 1, FAILURE: 1 });
  });

  it('ignores events without a task id or of unknown types', () => {
    const s = new DashboardState();
    s.apply(ev('task-received', {}), 0);
    s.apply(ev('something-else', { uuid: 'x' }), 0);
    expect(s.tasks.size).toBe(0);
    expect(s.eventCounts).toEqual({ 'task-received': 1, 'something-else': 1 });
  });
});

describe('DashboardState: workers', () => {
  it('marks a worker online from heartbeats and offline after twice its freq or worker-offline', () => {
    const s = new DashboardState();
    const now = 1_000_000;
    s.apply(ev('worker-online', { freq: 2, sw_ident: 'celeriac', sw_ver: '0.1.0' }), now);
    s.apply(
      ev('worker-heartbeat', { freq: 2, active: 3, processed: 10, loadavg: [0.5, 0.4, 0.3] }),
      now,
    );
    expect(s.workers.get(host)).toMatchObject({
      online: true,
      active: 3,
      processed: 10,
      loadavg: [0.5, 0.4, 0.3],
      swIdent: 'celeriac',
      lastHeartbeat: T0,
    });
    s.drain(now);
    expect(s.drain(now + 3999).workers).toEqual([]);
    const changed = s.drain(now + 4001).workers;
    expect(changed.map((w) => [w.hostname, w.online])).toEqual([[host, false]]);
    s.apply(ev('worker-heartbeat', { freq: 2 }), now + 5000);
    expect(s.workers.get(host)?.online).toBe(true);
    s.apply(ev('worker-offline'), now + 5001);
    expect(s.workers.get(host)?.online).toBe(false);
  });

  it('takes the pool and totals from a stats reply and the queues from active_queues', () => {
    const s = new DashboardState();
    s.applyStats(
      host,
      {
        pid: 42,
        pool: { 'max-concurrency': 8, implementation: 'async' },
        total: { 'tasks.add': 5 },
      },
      0,
      10_000,
    );
    s.applyActiveQueues(host, [{ name: 'celery', exchange: { name: 'celery' } }, { name: 'mail' }]);
    expect(s.workers.get(host)).toMatchObject({
      online: true,
      pid: 42,
      pool: { 'max-concurrency': 8 },
      total: { 'tasks.add': 5 },
      queues: ['celery', 'mail'],
    });
    expect(s.snapshot(20_000).workers[0]?.online).toBe(false);
  });
});

describe('QueueRates', () => {
  it('counts over a sliding minute', () => {
    const r = new QueueRates(60_000, 12);
    for (let i = 0; i < 30; i++) r.count('q', 1000);
    expect(r.rate('q', 1000)).toBeCloseTo(0.5);
    expect(r.rate('q', 30_000)).toBeCloseTo(0.5);
    expect(r.rate('q', 61_000)).toBe(0);
    expect(r.rate('other', 0)).toBe(0);
    expect(r.names()).toEqual(['q']);
  });
});
