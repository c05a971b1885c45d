import { describe, expect, it } from 'vitest';
import { silentLogger } from '@celeriac/core';
import { AsyncResult } from './async-result.js';
import { Celeriac } from './app.js';
import { unlockSignature } from './chord-unlock.js';
import { GroupResult } from './group-result.js';
import { resultAsTuple, resultFromTuple } from './result-tuple.js';

const app = new Celeriac({ broker: 'memory://result-tuple', logger: silentLogger });

describe("Celery's result tuples", () => {
  it('result_from_tuple: a task with its parent, a group of tasks', () => {
    const r = resultFromTuple([['b', [['a', null], null]], null], app);
    expect(r).toBeInstanceOf(AsyncResult);
    expect(r!.id).toBe('b');
    expect((r as AsyncResult).parent).toBeInstanceOf(AsyncResult);
    expect((r as AsyncResult).parent!.id).toBe('a');
    const g = resultFromTuple(
      [
        ['g', null],
        [
          [['x', null], null],
          [['y', null], null],
        ],
      ],
      app,
    );
    expect(g).toBeInstanceOf(GroupResult);
    expect((g as GroupResult).results.map((x) => x.id)).toEqual(['x', 'y']);
    // Older backends stored a bare id in the head.
    expect(resultFromTuple(['c', null], app)!.id).toBe('c');
    expect(resultFromTuple('nope', app)).toBeUndefined();
    expect(resultFromTuple([[1, null], null], app)).toBeUndefined();
  });

  it('as_tuple round-trips', () => {
    const t = [['b', [['a', null], null]], null];
    expect(resultAsTuple(resultFromTuple(t, app)!)).toEqual(t);
    const g = [['g', null], [[['x', null], null]]];
    expect(resultAsTuple(resultFromTuple(g, app)!)).toEqual(g);
  });

  it("celery.chord_unlock is sent in Celery's fallback_chord_unlock form", () => {
    const body = app.signature('t.sum', [], {}, { queue: 'bodies', priority: 3 }).toJSON();
    expect(unlockSignature('gid', body, ['p1', 'p2'])).toEqual({
      task: 'celery.chord_unlock',
      args: ['gid', body],
      kwargs: {
        interval: null,
        max_retries: null,
        result: [
          [['p1', null], null],
          [['p2', null], null],
        ],
      },
      options: { queue: 'bodies', countdown: 1, ignore_result: true, priority: 3 },
      subtask_type: null,
      immutable: true,
    });
  });
});
