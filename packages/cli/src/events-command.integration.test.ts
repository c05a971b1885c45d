import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { Dumper } from './events-command.js';
import { BIN, runCli, startWorkerProcess, type WorkerProcess } from './spawn-cli.test-helper.js';

const redisUrl = inject('redisUrl');

/** `celeriac events` as a child process, with its output lines. */
function startEventsTail(args: string[]) {
  const child = spawn(process.execPath, [BIN, 'events', '--broker', redisUrl, ...args]);
  const lines: string[] = [];
  let buffered = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts.filter((l) => l.length > 0));
    for (const w of waiters) w();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const waitForLine = (match: (line: string) => boolean, timeoutMs = 15_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = lines.find(match);
        if (found === undefined) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no such line in ${timeoutMs} ms; got:\n${lines.join('\n')}\n${stderr}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { child, lines, exited, waitForLine };
}

describe('celeriac events', () => {
  const queue = uniqueName('evcli');
  const hostname = `${uniqueName('w')}@test`;
  let worker: WorkerProcess | undefined;
  let app: Celeriac;

  beforeAll(() => {
    app = new Celeriac({ broker: redisUrl, logger: silentLogger, defaultQueue: queue });
  });
  afterAll(async () => {
    worker?.child.kill('SIGTERM');
    await worker?.exited;
    await app.close();
  });

  it('prints a -E worker’s events as JSON lines, live, and exits 0 on SIGTERM', async () => {
    const tail = startEventsTail(['--json', '--ready-line', '--no-heartbeats']);
    await tail.waitForLine((l) => l === '-> events: listening');
    worker = await startWorkerProcess(['-E', '-Q', queue, '-n', hostname], {
      CELERIAC_BROKER_URL: redisUrl,
    });
    const online = JSON.parse(
      await tail.waitForLine((l) => l.includes('"worker-online"') && l.includes(hostname)),
    ) as Record<string, unknown>;
    expect(online['sw_ident']).toBe('celeriac');
    const result = app.sendTask('fx.add', [2, 40]);
    await expect(result.get({ timeout: 15 })).resolves.toBe(42);
    const done = JSON.parse(
      await tail.waitForLine((l) => l.includes('"task-succeeded"') && l.includes(result.id)),
    ) as Record<string, unknown>;
    expect(done).toMatchObject({ hostname, uuid: result.id, result: '42' });
    expect(tail.lines.some((l) => l.includes('"worker-heartbeat"'))).toBe(false);
    tail.child.kill('SIGTERM');
    await expect(tail.exited).resolves.toBe(0);
  });

  it('prints help, and refuses a bad --types in one line', async () => {
    const help = await runCli(['events', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: celeriac events/);
    const bad = await runCli(['events', '--types', 'bogus', '--broker', redisUrl]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--types: "bogus" is not an event type/);
  });
});

describe('Dumper (celery events --dump lines)', () => {
  it('names a task from its received event in its later events', () => {
    const d = new Dumper();
    const base = { hostname: 'celeriac@h', timestamp: 1_700_000_000.5 };
    expect(
      d.format({
        ...base,
        type: 'task-received',
        uuid: 'id-1',
        name: 'tasks.add',
        args: '(2, 3)',
        kwargs: '{}',
        retries: 0,
      }),
    ).toBe(
      'celeriac@h [2023-11-14 22:13:20.500] task received: tasks.add(id-1) args=(2, 3) kwargs={} retries=0',
    );
    expect(
      d.format({ ...base, type: 'task-succeeded', uuid: 'id-1', result: '5', runtime: 0.01 }),
    ).toBe(
      'celeriac@h [2023-11-14 22:13:20.500] task succeeded: tasks.add(id-1) args=(2, 3) kwargs={} result=5, runtime=0.01',
    );
    expect(d.format({ ...base, type: 'worker-online', freq: 2 })).toBe(
      'celeriac@h [2023-11-14 22:13:20.500] started: freq=2',
    );
  });
});
