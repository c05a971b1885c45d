import { isCeleriacError } from '@celeriac/core';
import { describe, expect, it } from 'vitest';
import { compileEntry, definitionHash, runTaskId, type BeatEntry } from './entry.js';
import { crontab } from './schedules/crontab.js';
import { every } from './schedules/every.js';

const defaults = { timezone: 'UTC' };
const ok: BeatEntry = { name: 'nightly', task: 'reports.nightly', schedule: crontab('0 3 * * *') };

function fieldOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    expect(isCeleriacError(err, 'CELERIAC_ERR_INVALID_SCHEDULE')).toBe(true);
    return (err as { details: { field: unknown } }).details.field;
  }
  throw new Error('expected an error');
}

describe('entries', () => {
  it('apply defaults and the time zone', () => {
    const { definition, enabled } = compileEntry({ ...ok, timezone: 'Europe/London' }, defaults);
    expect(enabled).toBe(true);
    expect(definition).toMatchObject({
      name: 'nightly',
      args: [],
      kwargs: {},
      options: {},
      misfireGraceTime: null,
      coalesce: true,
      catchUp: false,
      catchUpLimit: 100,
      schedule: { kind: 'crontab', expression: '0 3 * * *', timezone: 'Europe/London' },
    });
    expect(
      compileEntry({ ...ok, schedule: every().day().at('10:00') }, { timezone: 'Asia/Tokyo' })
        .definition.schedule,
    ).toMatchObject({ timezone: 'Asia/Tokyo' });
  });

  it('are refused at registration with the field named', () => {
    expect(fieldOf(() => compileEntry({ ...ok, name: '' }, defaults))).toBe('name');
    expect(fieldOf(() => compileEntry({ ...ok, name: 'a\nb' }, defaults))).toBe('name');
    expect(fieldOf(() => compileEntry({ ...ok, task: '' }, defaults))).toBe('task');
    expect(fieldOf(() => compileEntry({ ...ok, args: 'x' as never }, defaults))).toBe('args');
    expect(fieldOf(() => compileEntry({ ...ok, kwargs: [] as never }, defaults))).toBe('kwargs');
    expect(fieldOf(() => compileEntry({ ...ok, options: { priority: 300 } }, defaults))).toBe(
      'options.priority',
    );
    expect(fieldOf(() => compileEntry({ ...ok, options: { queue: '' } }, defaults))).toBe(
      'options.queue',
    );
    expect(
      fieldOf(() => compileEntry({ ...ok, options: { countdown: 5 } as never }, defaults)),
    ).toBe('options.countdown');
    expect(fieldOf(() => compileEntry({ ...ok, misfireGraceTime: -1 }, defaults))).toBe(
      'misfireGraceTime',
    );
    expect(fieldOf(() => compileEntry({ ...ok, catchUpLimit: 0 }, defaults))).toBe('catchUpLimit');
    expect(fieldOf(() => compileEntry({ ...ok, timezone: 'Nowhere' }, defaults))).toBe(
      'entry "nightly" timezone',
    );
    expect(
      fieldOf(() =>
        compileEntry(
          { ...ok, schedule: { kind: 'crontab', expression: '99 * * * *', dayMatch: 'vixie' } },
          defaults,
        ),
      ),
    ).toBe('schedule');
    expect(() =>
      compileEntry(
        { ...ok, schedule: { kind: 'crontab', expression: '99 * * * *', dayMatch: 'vixie' } },
        defaults,
      ),
    ).toThrow(/minute field "99"/);
  });

  it('hash equally when equal, differently when not', () => {
    const a = compileEntry(ok, defaults).definition;
    const b = compileEntry({ ...ok, options: {} }, defaults).definition;
    expect(definitionHash(a)).toBe(definitionHash(b));
    expect(definitionHash(compileEntry({ ...ok, args: [1] }, defaults).definition)).not.toBe(
      definitionHash(a),
    );
  });

  it('a run has one task id, a UUID, derived from namespace, entry and time', () => {
    const id = runTaskId('default', 'nightly', 1_700_000_000_000);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(runTaskId('default', 'nightly', 1_700_000_000_000)).toBe(id);
    expect(runTaskId('default', 'nightly', 1_700_000_001_000)).not.toBe(id);
    expect(runTaskId('staging', 'nightly', 1_700_000_000_000)).not.toBe(id);
  });
});
