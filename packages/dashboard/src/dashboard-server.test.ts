/**
 * The dashboard's HTTP side on memory:// (no server needed): the route table, read-only by
 * default (403 for actions), basic auth, the page's files, the live stream, dead letters.
 * Events are pushed through the `events` option, as receiveEvents would deliver them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import {
  startDashboard,
  type Dashboard,
  type DashboardEvent,
  type DashboardOptions,
} from './index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(
  options: Partial<DashboardOptions> = {},
): Promise<{ dashboard: Dashboard; app: Celeriac; push: (e: DashboardEvent) => void }> {
  const app = new Celeriac({
    broker: `memory://dash-${Math.random().toString(36).slice(2)}`,
    logger: silentLogger,
  });
  let push: (e: DashboardEvent) => void = () => undefined;
  const dashboard = await startDashboard({
    app,
    port: 0,
    scheduleStore: null,
    events: (_app, onEvent) => {
      push = onEvent;
      return Promise.resolve({ close: () => Promise.resolve() });
    },
    ...options,
  });
  cleanups.push(async () => {
    await dashboard.close();
    await app.close();
  });
  return { dashboard, app, push: (e) => push(e) };
}

const post = (
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

async function deadLetter(app: Celeriac): Promise<void> {
  const broker = await app.broker();
  // A message with no task header: what a worker dead-letters as malformed.
  await broker.publish('celery', {
    body: Buffer.from('[[], {}, {}]'),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { id: 'dl-1' },
    properties: {},
  });
  const consumer = await broker.consume({
    queues: ['celery'],
    prefetch: 1,
    onMessage: (d) =>
      void d.deadLetter({ code: 'CELERIAC_ERR_MALFORMED_MESSAGE', message: 'no task header' }),
  });
  await expect.poll(() => broker.deadLetters.count('celery')).toBe(1);
  await consumer.cancel();
}

describe('dashboard server', () => {
  it('serves the page, its scripts and a public /healthz; unknown paths are 404', async () => {
    const { dashboard } = await start();
    const page = await fetch(dashboard.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('<script type="module" src="/app.js">');
    for (const f of ['app.js', 'lib.js', 'views.js', 'charts.js', 'style.css'])
      expect((await fetch(`${dashboard.url}${f}`)).status, f).toBe(200);
    expect(await (await fetch(`${dashboard.url}healthz`)).json()).toEqual({ ok: true });
    expect((await fetch(`${dashboard.url}../package.json`)).status).toBe(404);
    expect((await fetch(`${dashboard.url}api/nothing`)).status).toBe(404);
    expect((await post(`${dashboard.url}api/config`, {})).status).toBe(405);
  });

  it('is read-only by default: every action is refused with 403 and the config says so', async () => {
    const { dashboard, app } = await start();
    await deadLetter(app);
    expect(await (await fetch(`${dashboard.url}api/config`)).json()).toMatchObject({
      allowActions: false,
    });
    for (const path of [
      'api/dead-letters/replay',
      'api/dead-letters/purge',
      'api/beat/some-entry/pause',
      'api/beat/some-entry/resume',
      'api/tasks/some-id/revoke',
    ]) {
      const res = await post(`${dashboard.url}${path}`, { queue: 'celery' });
      expect(res.status, path).toBe(403);
      expect(((await res.json()) as { error: string }).error).toMatch(/--allow-actions/);
    }
    expect(await (await app.broker()).deadLetters.count('celery')).toBe(1);
  });

  it('with allowActions: lists, replays and purges dead letters; refuses cross-site requests', async () => {
    const { dashboard, app } = await start({ allowActions: true });
    await deadLetter(app);
    const list = (await (await fetch(`${dashboard.url}api/dead-letters`)).json()) as {
      id: string;
      queue: string;
      code: string;
      taskId: string;
    }[];
    expect(list).toMatchObject([
      { queue: 'celery', code: 'CELERIAC_ERR_MALFORMED_MESSAGE', taskId: 'dl-1' },
    ]);
    // A form post (no JSON) and a request from another origin are not the page.
    const form = await fetch(`${dashboard.url}api/dead-letters/purge`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'queue=celery',
    });
    expect(form.status).toBe(415);
    const cross = await post(
      `${dashboard.url}api/dead-letters/purge`,
      { queue: 'celery' },
      { origin: 'http://evil.example' },
    );
    expect(cross.status).toBe(403);
    expect((await post(`${dashboard.url}api/dead-letters/replay`, {})).status).toBe(400);
    const replay = await post(`${dashboard.url}api/dead-letters/replay`, {
      queue: 'celery',
      ids: [list[0]?.id],
    });
    expect(await replay.json()).toEqual({ replayed: 1 });
    const broker = await app.broker();
    expect(await broker.count('celery')).toBe(1);
    await broker.purge('celery');
    await deadLetter(app);
    expect(
      await (await post(`${dashboard.url}api/dead-letters/purge`, { queue: 'celery' })).json(),
    ).toEqual({ purged: 1 });
    expect(await broker.deadLetters.count('celery')).toBe(0);
    expect((await post(`${dashboard.url}api/beat/x/pause`, {})).status).toBe(404);
  });

  it('enforces basic auth on the page, the API and the stream, not on /healthz', async () => {
    const { dashboard } = await start({ basicAuth: 'admin:s3cr:et' });
    for (const path of ['', 'app.js', 'api/config', 'api/stream', 'api/tasks']) {
      const res = await fetch(`${dashboard.url}${path}`);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    }
    const wrong = `Basic ${Buffer.from('admin:nope').toString('base64')}`;
    expect(
      (await fetch(`${dashboard.url}api/config`, { headers: { authorization: wrong } })).status,
    ).toBe(401);
    const right = `Basic ${Buffer.from('admin:s3cr:et').toString('base64')}`;
    expect(
      (await fetch(`${dashboard.url}api/config`, { headers: { authorization: right } })).status,
    ).toBe(200);
    expect((await fetch(`${dashboard.url}healthz`)).status).toBe(200);
  });

  it('refuses a malformed basicAuth option', async () => {
    await expect(start({ basicAuth: 'nopassword' })).rejects.toMatchObject({
      code: 'CELERIAC_ERR_INVALID_OPTION',
    });
  });

  it('streams a snapshot, then task and worker updates as events arrive; searches tasks', async () => {
    const { dashboard, push } = await start();
    const res = await fetch(`${dashboard.url}api/stream`);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = '';
    const until = async (re: RegExp): Promise<void> => {
      while (!re.test(seen)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${String(re)}`);
        seen += value;
      }
    };
    await until(/event: snapshot\ndata: .*\n\n/);
    const now = Date.now() / 1000;
    push({ type: 'worker-online', hostname: 'celeriac@a', timestamp: now, freq: 2 });
    push({
      type: 'task-received',
      hostname: 'celeriac@a',
      timestamp: now,
      uuid: 't-1',
      name: 'tasks.add',
      args: '(1, 2)',
    });
    push({
      type: 'task-succeeded',
      hostname: 'celeriac@a',
      timestamp: now,
      uuid: 't-1',
      result: '3',
      runtime: 0.01,
    });
    await until(/event: update\ndata: .*"uuid":"t-1".*"state":"SUCCESS"/);
    expect(seen).toMatch(/"hostname":"celeriac@a","online":true/);
    await reader.cancel();
    const found = (await (await fetch(`${dashboard.url}api/tasks?search=add`)).json()) as unknown[];
    expect(found).toMatchObject([{ uuid: 't-1', result: '3' }]);
    expect((await fetch(`${dashboard.url}api/tasks?state=NOPE`)).status).toBe(400);
    const detail = await (await fetch(`${dashboard.url}api/tasks/t-1`)).json();
    expect(detail).toMatchObject({ task: { uuid: 't-1', state: 'SUCCESS' } });
    expect((await fetch(`${dashboard.url}api/tasks/unknown-id`)).status).toBe(404);
    expect(await (await fetch(`${dashboard.url}api/workers/celeriac%40a`)).json()).toMatchObject({
      hostname: 'celeriac@a',
    });
  });

  it('serves extra routes (the place for /metrics) before its own', async () => {
    const { dashboard } = await start({
      routes: [
        {
          method: 'GET',
          path: '/metrics',
          handle: ({ res }) => {
            res.writeHead(200, { 'content-type': 'text/plain' }).end('celery_worker_up 1\n');
          },
        },
      ],
    });
    expect(await (await fetch(`${dashboard.url}metrics`)).text()).toBe('celery_worker_up 1\n');
  });
});
