import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCrontabFile, parseCrontabFile, watchCrontabFile } from './crontab-file.js';
import { nextRunAfter } from './schedules/schedule.js';

describe('crontab files', () => {
  it('parse time fields, task, JSON args or kwargs, comments and CRON_TZ', () => {
    const entries = parseCrontabFile(
      [
        '# nightly jobs',
        '',
        '0 3 * * 1-5   reports.nightly ["eu", 2]',
        'CRON_TZ=Europe/London',
        '*/15 * * * *  cache.refresh   {"full": false}',
        '@hourly       ops.ping',
        '@hourly       ops.ping',
      ].join('\n'),
    );
    expect(entries.map((e) => [e.name, e.task, e.args, e.kwargs])).toEqual([
      ['reports.nightly 0 3 * * 1-5', 'reports.nightly', ['eu', 2], {}],
      ['cache.refresh */15 * * * *', 'cache.refresh', [], { full: false }],
      ['ops.ping @hourly', 'ops.ping', [], {}],
      ['ops.ping @hourly #2', 'ops.ping', [], {}],
    ]);
    expect(entries[0]?.schedule).toMatchObject({ kind: 'crontab', expression: '0 3 * * 1-5' });
    expect(entries[1]?.schedule).toMatchObject({ timezone: 'Europe/London' });
    expect(nextRunAfter(entries[2]!.schedule, '2024-01-01T00:30:00Z')?.toISOString()).toBe(
      '2024-01-01T01:00:00.000Z',
    );
  });

  it('report the line of an error', () => {
    expect(() => parseCrontabFile('0 3 * * *', 'jobs.cron')).toThrow(
      /jobs\.cron:1: expected five time fields and a task name/,
    );
    expect(() => parseCrontabFile('# ok\n0 25 * * * t', 'jobs.cron')).toThrow(
      /jobs\.cron:2: .*hour field "25"/,
    );
    expect(() => parseCrontabFile('0 3 * * * t not-json', 'jobs.cron')).toThrow(
      /jobs\.cron:1: the text after the task name must be JSON/,
    );
    expect(() => parseCrontabFile('CRON_TZ=Mars/Base', 'jobs.cron')).toThrow(
      /jobs\.cron:1: .*IANA/,
    );
  });

  it('loadCrontabFile reads a file, and says when there is none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-crontab-'));
    try {
      const file = join(dir, 'jobs.cron');
      writeFileSync(file, '@daily ops.ping\n');
      expect(loadCrontabFile(file).map((e) => e.name)).toEqual(['ops.ping @daily']);
      expect(() => loadCrontabFile(join(dir, 'nope.cron'))).toThrow(
        expect.objectContaining({
          code: 'CELERIAC_ERR_INVALID_OPTION',
          message: expect.stringMatching(/nope\.cron: no such file/) as unknown,
        }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('watchCrontabFile reports a burst of writes once, a save by rename too, and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-crontab-'));
    const file = join(dir, 'jobs.cron');
    writeFileSync(file, '@daily a\n');
    let changes = 0;
    let notify: () => void = () => undefined;
    const watcher = watchCrontabFile(file, {
      debounceMs: 100,
      onChange: () => {
        changes++;
        notify();
      },
    });
    const next = (): Promise<void> => new Promise<void>((resolve) => (notify = resolve));
    try {
      let seen = next();
      writeFileSync(file, '@daily b\n');
      writeFileSync(file, '@daily c\n');
      writeFileSync(join(dir, 'other.txt'), 'not the crontab');
      await seen;
      expect(changes).toBe(1);
      seen = next();
      writeFileSync(`${file}.tmp`, '@daily d\n');
      renameSync(`${file}.tmp`, file);
      await seen;
      expect(changes).toBe(2);
    } finally {
      watcher.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
