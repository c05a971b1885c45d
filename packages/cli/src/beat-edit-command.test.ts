import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { beatCommand } from './beat-command.js';
import { CLEAR_HELP, MODIFY_HELP, RESCHEDULE_HELP } from './beat-edit-command.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-cli-edit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const store = ['--store', `sqlite://${join(dir, 'celeriac.db')}`];

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await beatCommand(argv, { stdout, stderr });
  return { code, out, err };
}

interface Listed {
  name: string;
  task: string;
  schedule: string;
  args: unknown[];
  options: Record<string, unknown>;
  nextRunAt: string | null;
}

async function list(ns: string): Promise<Listed[]> {
  const { out } = await run('list', '--json', ...store, '--namespace', ns);
  return JSON.parse(out) as Listed[];
}

describe('celeriac beat modify | reschedule | clear', () => {
  it('each prints its own --help', async () => {
    expect((await run('modify', '--help')).out).toBe(MODIFY_HELP);
    expect((await run('reschedule', '-h')).out).toBe(RESCHEDULE_HELP);
    expect((await run('clear', '--help')).out).toBe(CLEAR_HELP);
    expect(MODIFY_HELP).toContain('Usage: celeriac beat modify <name>');
    expect((await run('--help')).out).toMatch(/modify <name>.*\n(.*\n)*.*reschedule <name>/);
  });

  it('modify changes what its flags name and keeps the rest', async () => {
    const ns = 'modify';
    const at = ['--namespace', ns, ...store];
    await run(
      'add',
      'nightly',
      '--task',
      'reports.nightly',
      '--cron',
      '0 3 * * *',
      '--expires',
      '60',
      ...at,
    );
    const before = (await list(ns))[0];
    const r = await run('modify', 'nightly', '--args', '["us"]', '-Q', 'reports-us', ...at);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/^modified nightly: .* → reports\.nightly; next run 20\d\d-/);
    const after = (await list(ns))[0];
    expect(after).toMatchObject({
      args: ['us'],
      options: { queue: 'reports-us', expires: 60 },
      nextRunAt: before?.nextRunAt,
    });
    await run('modify', 'nightly', '--task', 'reports.other', '--misfire-grace', '30', ...at);
    expect((await list(ns))[0]?.task).toBe('reports.other');

    await expect(run('modify', 'nightly', ...at)).rejects.toThrow(/needs a change/);
    await expect(run('modify', 'nightly', '--catch-up', 'maybe', ...at)).rejects.toThrow(
      /--catch-up must be true or false/,
    );
    await expect(
      run('modify', 'nightly', '--every', '5m', '--cron', '* * * * *', ...at),
    ).rejects.toThrow(/at most one of --cron/);
    await expect(run('modify', 'nightly', '--kwargs', '[1]', ...at)).rejects.toThrow(/--kwargs/);
    const missing = await run('modify', 'nobody', '--args', '[]', ...at);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no entry named "nobody"/);
  });

  it('reschedule sets a new schedule and counts the next run from now', async () => {
    const ns = 'reschedule';
    const at = ['--namespace', ns, ...store];
    await run('add', 'ping', '--task', 'ops.ping', '--every', '6h', ...at);
    const r = await run('reschedule', 'ping', '--every', '1m', ...at);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^rescheduled ping: every 1m → ops\.ping; next run /);
    const next = Date.parse((await list(ns))[0]?.nextRunAt ?? '');
    expect(next - Date.now()).toBeLessThanOrEqual(60_000);
    const tz = await run('reschedule', 'ping', '--cron', '0 9 * * *', '--tz', 'Asia/Tokyo', ...at);
    expect(tz.out).toMatch(/Asia\/Tokyo/);
    expect(new Date((await list(ns))[0]?.nextRunAt ?? '').getUTCHours()).toBe(0);
    await expect(run('reschedule', 'ping', ...at)).rejects.toThrow(/exactly one of --cron/);
    await expect(run('reschedule', 'ping', '--cron', '61 * * * *', ...at)).rejects.toMatchObject({
      code: 'CELERIAC_ERR_INVALID_SCHEDULE',
    });
    expect((await run('reschedule', 'gone', '--every', '1m', ...at)).code).toBe(1);
  });

  it('clear removes every entry only with --yes', async () => {
    const ns = 'clear';
    const at = ['--namespace', ns, ...store];
    await run('add', 'a', '--task', 't', '--every', '1h', ...at);
    await run('add', 'b', '--task', 't', '--every', '1h', ...at);
    const dry = await run('clear', ...at);
    expect(dry.code).toBe(1);
    expect(dry.err).toMatch(/would remove 2 entries from namespace "clear": pass --yes/);
    expect(await list(ns)).toHaveLength(2);
    expect(await run('clear', '--yes', ...at)).toEqual({
      code: 0,
      out: 'removed 2 entries\n',
      err: '',
    });
    expect(await list(ns)).toEqual([]);
    await expect(run('clear', 'extra', '--yes', ...at)).rejects.toThrow(/unexpected argument/);
  });
});
