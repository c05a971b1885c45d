/** Reading remote-control arguments, and the command table's Celery reply shapes, without a server. */
import { describe, expect, it } from 'vitest';
import { runCommand, humanBytes, type ControlledWorker } from './commands.js';
import {
  booleanArg,
  ControlRefusal,
  idsArg,
  integerArg,
  numberArg,
  stringArg,
} from './control-args.js';

describe('control arguments', () => {
  it('reads strings, numbers, integers, flags and id lists as Python sends them', () => {
    expect(stringArg({ q: 'a' }, 'q')).toBe('a');
    expect(stringArg({ q: null }, 'q')).toBeUndefined();
    expect(numberArg({ n: 2 }, 'n')).toBe(2);
    expect(numberArg({ n: '0.5' }, 'n')).toBe(0.5);
    expect(() => numberArg({ n: 'x' }, 'n')).toThrow(ControlRefusal);
    expect(integerArg({}, 'n', 1)).toBe(1);
    expect(() => integerArg({ n: 0 }, 'n', 1)).toThrow(/n must be an integer >= 1/);
    expect(booleanArg({ b: 'True' }, 'b')).toBe(true);
    expect(booleanArg({ b: 'no' }, 'b')).toBe(false);
    expect(booleanArg({}, 'b')).toBe(false);
    expect(idsArg({ ids: 'one' }, 'ids')).toEqual(['one']);
    expect(idsArg({ ids: ['a', 'b', 'a', 3] }, 'ids')).toEqual(['a', 'b']);
    expect(idsArg({}, 'ids')).toEqual([]);
  });

  it('prints memory as Celery does', () => {
    expect(humanBytes(64 * 2 ** 20)).toBe('64MB');
    expect(humanBytes(1.5 * 2 ** 30)).toBe('1.5GB');
    expect(humanBytes(12)).toBe('12b');
  });
});

describe('command table', () => {
  const calls: unknown[][] = [];
  const worker = {
    hostname: 'celeriac@unit',
    hasTask: (name: string) => name === 't.add',
    setRateLimit: (...a: unknown[]) => calls.push(['rate', ...a]),
    setTimeLimits: (...a: unknown[]) => calls.push(['time', ...a]),
    resize: (d: number) => {
      if (d < -1) throw new ControlRefusal('the pool cannot shrink below 1 (it has 2)');
      calls.push(['resize', d]);
    },
    revoke: (ids: readonly string[], terminate: boolean) => (terminate ? ids.slice(0, 1) : []),
    tasks: () => [
      { name: 't.b', rateLimit: null },
      { name: 't.add', rateLimit: '10/s' },
      { name: 'celery.map', rateLimit: null },
    ],
  } as unknown as ControlledWorker;
  const run = (method: string, args: Record<string, unknown> = {}): unknown =>
    runCommand(worker, method, args, { clock: 7 });

  it('answers in Celery reply shapes', () => {
    expect(run('clock')).toEqual({ clock: 7 });
    expect(run('dump_tasks')).toEqual(['t.add [rate_limit=10/s]', 't.b']);
    expect(run('registered', { builtins: true })).toContain('celery.map');
    expect(run('rate_limit', { task_name: 't.add', rate_limit: '5/m' })).toEqual({
      ok: 'new rate limit set successfully',
    });
    expect(calls.at(-1)).toEqual(['rate', 't.add', { count: 5, intervalMs: 60_000 }, '5/m']);
    expect(run('rate_limit', { task_name: 't.add', rate_limit: '' })).toEqual({
      ok: 'rate limit disabled successfully',
    });
    expect(run('rate_limit', { task_name: 't.add', rate_limit: 'fast' })).toMatchObject({
      error: expect.stringMatching(/^Invalid rate limit string/) as unknown,
    });
    expect(run('rate_limit', { task_name: 'nope', rate_limit: '1/s' })).toEqual({
      error: 'unknown task',
    });
    expect(run('time_limit', { task_name: 't.add', soft: 1.5, hard: 2 })).toEqual({
      ok: 'time limits set successfully',
    });
    expect(calls.at(-1)).toEqual(['time', 't.add', 1.5, 2]);
    expect(run('pool_grow', { n: '2' })).toEqual({ ok: 'pool will grow' });
    expect(run('pool_shrink', { n: 2 })).toEqual({
      error: 'the pool cannot shrink below 1 (it has 2)',
    });
    expect(run('terminate', { signal: 'SIGKILL', task_id: ['a', 'b'] })).toEqual({
      ok: 'terminate: a',
    });
    expect(run('revoke', { task_id: 'a' })).toEqual({ ok: 'tasks a flagged as revoked' });
    expect(run('hello', { from_node: 'celeriac@unit' })).toBeNull();
    expect(run('toString')).toEqual({ error: 'No such control command: toString' });
  });
});
