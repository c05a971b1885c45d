/**
 * `celeriac dashboard` as a user starts it, on Redis: it prints its address, answers
 * /healthz, refuses actions with 403 unless --allow-actions, and enforces --basic-auth.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { BIN, runCli, startWorkerProcess } from './spawn-cli.test-helper.js';

const redisUrl = inject('redisUrl');
/** The only queue acted on: never another test's. */
const QUEUE = uniqueName('dashcli');
const running: ChildProcess[] = [];
afterEach(async () => {
  for (const child of running.splice(0)) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
});

/** Starts the command on port 0 and resolves with the URL it prints. */
async function startDashboardProcess(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [
    BIN,
    'dashboard',
    '--broker',
    redisUrl,
    '--port',
    '0',
    '-Q',
    QUEUE,
    ...args,
  ]);
  running.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no address printed:\n${out}`)), 30_000);
    const check = (): void => {
      const m = /dashboard: (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`celeriac dashboard exited with ${String(code)}:\n${out}`));
    });
  });
}

const post = (url: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ queue: QUEUE }),
  });

describe('celeriac dashboard', () => {
  it('prints help, and refuses a malformed --basic-auth', async () => {
    const help = await runCli(['dashboard', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--allow-actions/);
    const bad = await runCli(['dashboard', '--broker', redisUrl, '--basic-auth', 'nopass']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--basic-auth must be user:password/);
  });

  it('is read-only by default: actions get 403', async () => {
    const url = await startDashboardProcess([]);
    expect((await fetch(`${url}healthz`)).status).toBe(200);
    expect(await (await fetch(`${url}api/config`)).json()).toMatchObject({ allowActions: false });
    for (const path of ['api/dead-letters/replay', 'api/dead-letters/purge', 'api/beat/x/pause'])
      expect((await post(`${url}${path}`)).status, path).toBe(403);
  });

  it('with --allow-actions and --basic-auth: 401 without the password, actions with it', async () => {
    const url = await startDashboardProcess(['--allow-actions', '--basic-auth', 'ops:pw']);
    expect((await fetch(`${url}api/config`)).status).toBe(401);
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(`${url}healthz`)).status).toBe(200);
    const authorization = `Basic ${Buffer.from('ops:pw').toString('base64')}`;
    expect(
      await (await fetch(`${url}api/config`, { headers: { authorization } })).json(),
    ).toMatchObject({ allowActions: true });
    const purge = await post(`${url}api/dead-letters/purge`, { authorization });
    expect(purge.status).toBe(200);
    expect(await purge.json()).toEqual({ purged: 0 });
  });

  it("serves celery-exporter's metrics on /metrics, fed by the events it shows", async () => {
    const url = await startDashboardProcess([]);
    // celery-exporter labels by the host part of the node name: a host of this test's own.
    const host = uniqueName('dmhost');
    const hostname = `dm@${host}`;
    const worker = await startWorkerProcess(['-E', '-Q', QUEUE, '-n', hostname], {
      CELERIAC_BROKER_URL: redisUrl,
    });
    running.push(worker.child);
    const app = new Celeriac({ broker: redisUrl, logger: silentLogger, defaultQueue: QUEUE });
    try {
      for (const [a, b] of [
        [1, 2],
        [3, 4],
        [5, 6],
      ])
        await app.sendTask('fx.add', [a, b]).get({ timeout: 15 });
      const count = (text: string, name: string): number =>
        text
          .split('\n')
          .filter((l) => l.startsWith(`${name}{`) && l.includes(`hostname="${host}"`))
          .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
      await expect
        .poll(
          async () => {
            const text = await (await fetch(`${url}metrics`)).text();
            return ['received', 'started', 'succeeded', 'failed'].map((k) =>
              count(text, `celery_task_${k}_total`),
            );
          },
          { timeout: 15_000 },
        )
        .toEqual([3, 3, 3, 0]);
      const text = await (await fetch(`${url}metrics`)).text();
      expect(count(text, 'celery_task_runtime_count')).toBe(3);
      expect(count(text, 'celery_worker_up')).toBe(1);
      expect(text).toMatch(new RegExp(`celery_queue_length\\{queue_name="${QUEUE}"\\} 0`));
    } finally {
      await app.close();
    }
  });
});
