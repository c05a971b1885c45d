import { describe, expect, it } from 'vitest';
import { parseCrontabFile } from './crontab-file.js';
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
});
