/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core) against a
 * real Celeriac worker with events on, on a real Redis: the worker appears, a task sent shows
 * up live with its result, a dead letter is replayed from the page and then succeeds, a beat
 * entry is paused from the page. Screenshots go to packages/dashboard/test-output/.
 * Every wait is on a condition (a selector, a polled state), never a fixed sleep.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BeatEntries, createScheduleStore, every, type ScheduleStore } from '@celeriac/beat';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { Worker } from '@celeriac/worker';
import { startDashboard, type Dashboard } from './index.js';

const redisUrl = inject('redisUrl');
const SHOTS = fileURLToPath(new URL('../test-output/', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const UI_TIMEOUT = 20_000;

const defineAdd = (app: Celeriac) => app.task('dash.add', (a: number, b: number) => a + b);

describe('the dashboard in chromium, against a worker with events on (Redis)', () => {
  const queue = uniqueName('dashq');
  const hostname = `${uniqueName('dash')}@test`;
  const namespace = uniqueName('dashbeat');
  let app: Celeriac;
  let add: ReturnType<typeof defineAdd>;
  let watcher: Celeriac;
  let worker: Worker;
  let dashboard: Dashboard;
  let store: ScheduleStore;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    app = new Celeriac({
      broker: redisUrl,
      backend: redisUrl,
      defaultQueue: queue,
      logger: silentLogger,
    });
    add = defineAdd(app);
    worker = new Worker(app, { hostname, events: true, concurrency: 2 });
    await worker.start();
    store = await createScheduleStore(redisUrl, { namespace });
    await new BeatEntries(store).add({
      name: 'dash-every-hour',
      task: 'dash.add',
      schedule: every(1).hours(),
      args: [1, 1],
    });
    // The dashboard has its own app on the same broker, as `celeriac dashboard` would.
    watcher = new Celeriac({
      broker: redisUrl,
      backend: redisUrl,
      defaultQueue: queue,
      logger: silentLogger,
    });
    dashboard = await startDashboard({
      app: watcher,
      port: 0,
      allowActions: true,
      refreshInterval: 1,
      scheduleStore: store,
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(UI_TIMEOUT);
  });

  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    await worker?.shutdown({ timeout: 1 });
    await store?.close();
    await watcher?.close();
    await app?.close();
  });

  it('shows the worker online, from its events', async () => {
    await page.goto(`${dashboard.url}#/workers`);
    const row = `tr[data-worker="${hostname}"]`;
    await page.waitForSelector(`${row} td.status[data-status="online"]`);
    await page.waitForSelector(`#conn[data-state="live"]`);
    await page.screenshot({ path: `${SHOTS}workers.png`, fullPage: true });
    // The counters come with the first heartbeat (every 2 s).
    await page.locator(`${row} td.processed`, { hasText: /^\d+$/ }).waitFor();
  });

  it('shows a task sent live, with its result, and its detail', async () => {
    await page.goto(`${dashboard.url}#/tasks`);
    await page.waitForSelector('#task-search');
    const r = add.delay(2, 3);
    const row = `tr[data-task="${r.id}"]`;
    await page.waitForSelector(`${row} td.state[data-state="SUCCESS"]`);
    expect(await page.textContent(`${row} td.result`)).toBe('5');
    expect(await page.textContent(`${row} td.name`)).toBe('dash.add');
    await page.screenshot({ path: `${SHOTS}tasks.png`, fullPage: true });
    await page.fill('#task-search', r.id.slice(0, 8));
    await page.waitForSelector(row);
    await page.click(`${row} a`);
    await page.waitForSelector(`#task-detail[data-task="${r.id}"] dd.stored:has-text("SUCCESS")`);
    expect(await page.textContent('#task-detail dd.result')).toBe('5');
    expect(await page.textContent('#task-detail dd.args')).toContain('2, 3');
    await page.screenshot({ path: `${SHOTS}task-detail.png`, fullPage: true });
    await page.click('#task-detail a[href="#/tasks"]');
    await page.fill('#task-search', '');
  });

  it('replays a dead letter from the page, and the replayed task succeeds', async () => {
    // A task the worker does not know yet: dead-lettered as CELERIAC_ERR_UNKNOWN_TASK.
    const late = app.sendTask('dash.late', [7]);
    const broker = await app.broker();
    await expect.poll(() => broker.deadLetters.count(queue), { timeout: UI_TIMEOUT }).toBe(1);
    // The cause fixed (the task deployed), the operator replays it from the page.
    app.task('dash.late', (x: number) => x * 2);
    await page.goto(`${dashboard.url}#/dead-letters`);
    const row = page.locator('tr[data-dead-letter]', { hasText: late.id.slice(0, 8) });
    await row.locator('td.reason', { hasText: 'CELERIAC_ERR_UNKNOWN_TASK' }).waitFor();
    await page.screenshot({ path: `${SHOTS}dead-letters.png`, fullPage: true });
    await row.locator('button.replay').click();
    await row.waitFor({ state: 'detached' });
    await expect.poll(() => late.state(), { timeout: UI_TIMEOUT }).toBe('SUCCESS');
    await page.goto(`${dashboard.url}#/tasks`);
    await page.waitForSelector(`tr[data-task="${late.id}"] td.state[data-state="SUCCESS"]`);
    expect(await page.textContent(`tr[data-task="${late.id}"] td.result`)).toBe('14');
    await expect.poll(() => late.state(), { timeout: UI_TIMEOUT }).toBe('SUCCESS');
    expect(await broker.deadLetters.count(queue)).toBe(0);
    await page.screenshot({ path: `${SHOTS}replayed.png`, fullPage: true });
  });

  it('shows the queue, charts, and pauses a beat entry from the page', async () => {
    await page.goto(`${dashboard.url}#/queues`);
    await page.waitForSelector(`tr[data-queue="${queue}"] td.length`);
    await page.screenshot({ path: `${SHOTS}queues.png`, fullPage: true });
    await page.goto(`${dashboard.url}#/overview`);
    await page.waitForSelector('[data-chart^="Throughput"] polyline');
    await page.screenshot({ path: `${SHOTS}overview.png`, fullPage: true });
    await page.goto(`${dashboard.url}#/beat`);
    const entry = 'tr[data-entry="dash-every-hour"]';
    await page.waitForSelector(`${entry} button.pause`);
    await page.click(`${entry} button.pause`);
    await page.waitForSelector(`${entry} button.resume`);
    expect(await page.textContent(`${entry} td.status`)).toBe('paused');
    expect((await new BeatEntries(store).list())[0]?.state.enabled).toBe(false);
    await page.screenshot({ path: `${SHOTS}beat.png`, fullPage: true });
  });
});
