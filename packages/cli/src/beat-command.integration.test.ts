import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createScheduleStore } from '@celeriac/beat';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { beatCommand, parseDuration, startWorkerBeat } from './beat-command.js';

const url = inject('redisUrl');
const FIXTURE = fileURLToPath(new URL('../../beat/test-fixtures/beat-app.js', import.meta.url));

function io(): {
  io: { stdout: PassThrough; stderr: PassThrough };
  out: () => string;
  err: () => string;
} {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { io: { stdout, stderr }, out: () => out, err: () => err };
}

let redis: Redis;
const namespaces: string[] = [];
beforeAll(() => {
  redis = new Redis(url);
});
afterAll(async () => {
  for (const ns of namespaces) {
    const keys = await redis.keys(`_celeriac.beat.{${ns}}.*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

describe('celeriac beat', () => {
  it('next: upcoming runs of an expression, in a time zone, with no store', async () => {
    const c = io();
    expect(
      await beatCommand(['next', '30 2 * * *', '--tz', 'America/New_York', '-n', '3'], c.io),
    ).toBe(0);
    const lines = c.out().trim().split('\n');
    expect(lines).toHaveLength(3);
    // 02:30, or 03:00 on a spring-forward day (a skipped fixed time runs at the change, as Vixie cron).
    for (const l of lines)
      expect(l).toMatch(
        /^\d{4}-\d{2}-\d{2}T\d{2}:[03]0:00\.000Z {2}\d{4}-\d{2}-\d{2} 0(?:2:30|3:00):00 /,
      );
    await expect(beatCommand(['next', '61 * * * *'], io().io)).rejects.toMatchObject({
      code: 'CELERIAC_ERR_INVALID_SCHEDULE',
      details: { field: 'minute', value: '61' },
    });
  });

  it('add, list, pause, resume, next, remove against the Redis store', async () => {
    const ns = uniqueName('cli-beat');
    namespaces.push(ns);
    const store = ['--store', url, '--namespace', ns];
    const add = io();
    expect(
      await beatCommand(
        [
          'add',
          'nightly',
          '--task',
          'reports.nightly',
          '--cron',
          '0 3 * * *',
          '--tz',
          'Europe/London',
          '--args',
          '["eu"]',
          '-Q',
          'reports',
          ...store,
        ],
        add.io,
      ),
    ).toBe(0);
    expect(add.out()).toMatch(
      /^added nightly: crontab "0 3 \* \* \*" \(Europe\/London\) → reports\.nightly; next run \d{4}-/,
    );
    expect(
      await beatCommand(
        ['add', 'ping', '--task', 'ops.ping', '--every', '1m30s', '--paused', ...store],
        io().io,
      ),
    ).toBe(0);
    await expect(
      beatCommand(['add', 'ping', '--task', 'ops.ping', '--every', '10s', ...store], io().io),
    ).rejects.toMatchObject({ code: 'CELERIAC_ERR_INVALID_OPTION' });
    await expect(
      beatCommand(['add', 'bad', '--task', 't', '--cron', '0 3 * *', ...store], io().io),
    ).rejects.toMatchObject({ code: 'CELERIAC_ERR_INVALID_SCHEDULE' });
    await expect(beatCommand(['add', 'x', '--task', 't', ...store], io().io)).rejects.toThrow(
      /exactly one of --cron/,
    );

    const list = io();
    expect(await beatCommand(['list', ...store], list.io)).toBe(0);
    expect(list.out()).toMatch(/NAME\s+TASK\s+SCHEDULE\s+STATE\s+NEXT RUN\s+LAST RUN\s+RUNS/);
    expect(list.out()).toMatch(
      /nightly\s+reports\.nightly\s+crontab "0 3 \* \* \*" \(Europe\/London\)\s+enabled/,
    );
    expect(list.out()).toMatch(/ping\s+ops\.ping\s+every 1m 30s\s+paused/);
    expect(list.out()).toContain('leader: none');

    expect(await beatCommand(['resume', 'ping', ...store], io().io)).toBe(0);
    expect(await beatCommand(['pause', 'nightly', ...store], io().io)).toBe(0);
    const json = io();
    expect(await beatCommand(['list', '--json', ...store], json.io)).toBe(0);
    const entries = JSON.parse(json.out()) as {
      name: string;
      enabled: boolean;
      args: unknown[];
      options: Record<string, unknown>;
      source: string;
    }[];
    expect(entries.map((e) => [e.name, e.enabled, e.source])).toEqual([
      ['nightly', false, 'api'],
      ['ping', true, 'api'],
    ]);
    expect(entries[0]).toMatchObject({ args: ['eu'], options: { queue: 'reports' } });

    const next = io();
    expect(await beatCommand(['next', 'ping', '-n', '2', ...store], next.io)).toBe(0);
    const [a, b] = next
      .out()
      .trim()
      .split('\n')
      .map((l) => Date.parse(l));
    expect((b ?? 0) - (a ?? 0)).toBe(90_000);

    expect(await beatCommand(['remove', 'ping', ...store], io().io)).toBe(0);
    const again = io();
    expect(await beatCommand(['remove', 'ping', ...store], again.io)).toBe(1);
    expect(again.err()).toContain('no entry named "ping"');
  });

  it('add and list against a SQLite file, which a beat process opens as its store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-beat-sqlite-'));
    const file = `sqlite://${join(dir, 'celeriac.db')}`;
    try {
      expect(
        await beatCommand(
          ['add', 'hourly', '--task', 'ops.hourly', '--every', '1h', '--store', file],
          io().io,
        ),
      ).toBe(0);
      const list = io();
      expect(await beatCommand(['list', '--json', '--store', file], list.io)).toBe(0);
      expect((JSON.parse(list.out()) as { name: string }[]).map((e) => e.name)).toEqual(['hourly']);
      const store = await createScheduleStore(file);
      try {
        expect((await store.get('hourly'))?.definition.task).toBe('ops.hourly');
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('editing needs a shared store', async () => {
    const saved = process.env['CELERIAC_BROKER_URL'];
    delete process.env['CELERIAC_BROKER_URL'];
    try {
      await expect(beatCommand(['list'], io().io)).rejects.toThrow(
        /needs the schedule store the beats share, Redis, SQLite or PostgreSQL/,
      );
    } finally {
      if (saved !== undefined) process.env['CELERIAC_BROKER_URL'] = saved;
    }
  });

  it('runs a beat from the app module and a crontab file until stopped', async () => {
    const ns = uniqueName('cli-beat-run');
    namespaces.push(ns);
    const queue = uniqueName('cli-beat-q');
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-beat-'));
    const file = join(dir, 'jobs.cron');
    writeFileSync(file, `# every minute\n* * * * * fixture.minutely [1]\n`);
    const saved = {
      broker: process.env['CELERIAC_BROKER_URL'],
      queue: process.env['BEAT_FIXTURE_QUEUE'],
    };
    process.env['CELERIAC_BROKER_URL'] = url;
    process.env['BEAT_FIXTURE_QUEUE'] = queue;
    try {
      const stop = new AbortController();
      const running = beatCommand(
        [
          '--app',
          FIXTURE,
          '--crontab',
          file,
          '--store',
          url,
          '--namespace',
          ns,
          '--lock-ttl',
          '2',
          '-l',
          'warn',
        ],
        io().io,
        { signal: stop.signal },
      );
      // Until the beat has sent two runs (it sends one a second), not for a fixed time.
      await expect
        .poll(() => redis.llen(queue), { timeout: 15_000, interval: 50 })
        .toBeGreaterThanOrEqual(2);
      stop.abort();
      expect(await running).toBe(0);
      const list = io();
      await beatCommand(['list', '--json', '--store', url, '--namespace', ns], list.io);
      const names = (JSON.parse(list.out()) as { name: string; source: string }[]).map((e) => [
        e.name,
        e.source,
      ]);
      expect(names).toEqual([
        ['fixture-ping', 'config'],
        ['fixture.minutely * * * * *', 'config'],
      ]);
    } finally {
      process.env['CELERIAC_BROKER_URL'] = saved.broker;
      process.env['BEAT_FIXTURE_QUEUE'] = saved.queue;
      if (saved.broker === undefined) delete process.env['CELERIAC_BROKER_URL'];
      if (saved.queue === undefined) delete process.env['BEAT_FIXTURE_QUEUE'];
      rmSync(dir, { recursive: true, force: true });
      await redis.del(queue);
    }
  });

  it('startWorkerBeat: the app module’s entries inside a worker process', async () => {
    const app = new Celeriac({ broker: 'memory://', backend: false, logger: silentLogger });
    const embedded = await startWorkerBeat(app, silentLogger, { appSpec: FIXTURE });
    expect((await embedded.beat.list()).map((e) => e.definition.name)).toEqual(['fixture-ping']);
    await embedded.close();
    await embedded.close();
    await app.close();
  });

  it('parses durations', () => {
    expect(parseDuration('90')).toBe(90);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('2d')).toBe(172_800);
    expect(parseDuration('500ms')).toBe(0.5);
    expect(() => parseDuration('10 minutes')).toThrow(/duration/);
  });
});
