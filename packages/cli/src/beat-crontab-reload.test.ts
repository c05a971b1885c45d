import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { runCli, startCliProcess, type WorkerProcess } from './spawn-cli.test-helper.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-cli-crontab-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('celeriac beat --crontab: reloaded when the file changes and on SIGHUP, a bad file keeps the entries; an edit from another process is acted on at once', async () => {
  const url = `sqlite://${join(dir, 'celeriac.db')}`;
  const file = join(dir, 'jobs.cron');
  const at = ['--store', url];
  const names = async (): Promise<string[]> => {
    const r = await runCli(['beat', 'list', '--json', ...at]);
    expect(r.stderr).toBe('');
    return (JSON.parse(r.stdout) as { name: string }[]).map((e) => e.name);
  };
  writeFileSync(file, '0 3 * * * reports.nightly ["eu"]\n');
  let beat: WorkerProcess | undefined;
  try {
    // Polls every 30 s and renews its lock every 40 s: only the store's change notices
    // explain a prompt dispatch below.
    beat = await startCliProcess(
      [
        'beat',
        '--broker',
        url,
        ...at,
        '--crontab',
        file,
        '--max-loop-interval',
        '30',
        '--lock-ttl',
        '120',
      ],
      {},
    );
    expect(await names()).toEqual(['reports.nightly 0 3 * * *']);

    // An edit of the file: its entries are synced again.
    let from = beat.log().length;
    writeFileSync(file, '0 3 * * * reports.nightly ["eu"]\n*/5 * * * * cache.refresh\n');
    await beat.waitForLog('beat: crontab reloaded', 15_000, from);
    expect(await names()).toEqual(['cache.refresh */5 * * * *', 'reports.nightly 0 3 * * *']);

    // A bad file (an editor saving by rename): logged with its line, the entries stay.
    from = beat.log().length;
    writeFileSync(`${file}.tmp`, '0 3 * * * reports.nightly\n61 * * * * broken.task\n');
    renameSync(`${file}.tmp`, file);
    await beat.waitForLog(
      'beat: crontab not reloaded, keeping the previous 2 entries',
      15_000,
      from,
    );
    expect(beat.log().slice(from)).toContain('jobs.cron:2');
    expect(await names()).toEqual(['cache.refresh */5 * * * *', 'reports.nightly 0 3 * * *']);

    // Fixed, with a line dropped: the dropped entry goes.
    from = beat.log().length;
    writeFileSync(file, '0 3 * * * reports.nightly ["eu"]\n');
    await beat.waitForLog('beat: crontab reloaded', 15_000, from);
    expect(await names()).toEqual(['reports.nightly 0 3 * * *']);

    // SIGHUP reloads the unchanged file: an entry removed behind its back comes back.
    expect((await runCli(['beat', 'remove', 'reports.nightly 0 3 * * *', ...at])).code).toBe(0);
    expect(await names()).toEqual([]);
    from = beat.log().length;
    beat.child.kill('SIGHUP');
    await beat.waitForLog('"reason":"SIGHUP"', 15_000, from);
    expect(beat.log().slice(from)).toContain('beat: crontab reloaded');
    expect(await names()).toEqual(['reports.nightly 0 3 * * *']);

    // An entry added by another process, due within a second of the add, is sent when due,
    // not at the next poll 30 s later.
    from = beat.log().length;
    const added = await runCli([
      'beat',
      'add',
      'soon',
      '--task',
      'ops.soon',
      '--every',
      '1s',
      ...at,
    ]);
    expect(added.code).toBe(0);
    await beat.waitForLog('beat: sending due task soon', 10_000, from);

    beat.child.kill('SIGTERM');
    expect(await beat.exited).toBe(0);
  } finally {
    if (beat?.child.exitCode === null) beat.child.kill('SIGKILL');
  }
}, 90_000);
