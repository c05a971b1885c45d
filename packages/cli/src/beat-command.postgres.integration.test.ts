import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { startPostgresServer, uniqueName, type PostgresServerHandle } from '@celeriac/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { beatCommand } from './beat-command.js';

const redisUrl = inject('redisUrl');
const FIXTURE = fileURLToPath(new URL('../../beat/test-fixtures/beat-app.js', import.meta.url));

function io(): { io: { stdout: PassThrough; stderr: PassThrough }; out: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.resume();
  return { io: { stdout, stderr }, out: () => out };
}

let server: PostgresServerHandle;
let redis: Redis;
beforeAll(async () => {
  server = await startPostgresServer();
  redis = new Redis(redisUrl);
});
afterAll(async () => {
  await redis.quit();
  await server.stop();
});

it('celeriac beat --store postgresql://…: edits the schedule, then runs a beat on it that publishes to the broker', async () => {
  const ns = uniqueName('cli-pg');
  const queue = uniqueName('cli-pg-q');
  const store = ['--store', server.url, '--namespace', ns];
  expect(
    await beatCommand(
      ['add', 'nightly', '--task', 'reports.nightly', '--cron', '0 3 * * *', ...store],
      io().io,
    ),
  ).toBe(0);
  expect(await beatCommand(['pause', 'nightly', ...store], io().io)).toBe(0);
  const saved = {
    broker: process.env['CELERIAC_BROKER_URL'],
    queue: process.env['BEAT_FIXTURE_QUEUE'],
  };
  process.env['CELERIAC_BROKER_URL'] = redisUrl;
  process.env['BEAT_FIXTURE_QUEUE'] = queue;
  try {
    const stop = new AbortController();
    const running = beatCommand(
      ['--app', FIXTURE, ...store, '--lock-ttl', '2', '-l', 'warn'],
      io().io,
      { signal: stop.signal },
    );
    // Until the beat has sent two runs of its every-second entry, not for a fixed time.
    await expect
      .poll(() => redis.llen(queue), { timeout: 15_000, interval: 50 })
      .toBeGreaterThanOrEqual(2);
    stop.abort();
    expect(await running).toBe(0);
    const list = io();
    expect(await beatCommand(['list', '--json', ...store], list.io)).toBe(0);
    const entries = JSON.parse(list.out()) as { name: string; enabled: boolean; source: string }[];
    expect(entries.map((e) => [e.name, e.enabled, e.source])).toEqual([
      ['fixture-ping', true, 'config'],
      ['nightly', false, 'api'],
    ]);
    expect(await beatCommand(['remove', 'nightly', ...store], io().io)).toBe(0);
  } finally {
    process.env['CELERIAC_BROKER_URL'] = saved.broker;
    process.env['BEAT_FIXTURE_QUEUE'] = saved.queue;
    if (saved.broker === undefined) delete process.env['CELERIAC_BROKER_URL'];
    if (saved.queue === undefined) delete process.env['BEAT_FIXTURE_QUEUE'];
    await redis.del(queue);
  }
});
