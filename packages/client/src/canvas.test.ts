/** The canvas dict forms, no server: what Node's builders give Celery and how chains arrange. */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@celeriac/core';
import { Celeriac } from './app.js';
import { chain, chord, group } from './canvas.js';

const app = new Celeriac({ broker: 'memory://canvas-json', logger: silentLogger });
const add = app.task('j.add', (a: number, b: number) => a + b);
const tsum = app.task('j.tsum', (xs: number[]) => xs.reduce((s, x) => s + x, 0));

describe('canvas dicts', () => {
  it('chain(a, group(b, c), d) is Celery’s a | chord([b, c], d)', () => {
    const json = chain(add.s(1, 1), group([add.s(1), add.s(2)]), tsum.s()).toJSON();
    expect(json).toMatchObject({ task: 'celery.chain', subtask_type: 'chain' });
    const [first, second, ...rest] = json.kwargs['tasks'] as Record<string, unknown>[];
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ task: 'j.add', args: [1, 1] });
    expect(second).toMatchObject({
      task: 'celery.chord',
      subtask_type: 'chord',
      kwargs: {
        header: { task: 'celery.group', kwargs: { tasks: [{ args: [1] }, { args: [2] }] } },
        body: { task: 'j.tsum' },
      },
    });
  });

  it('nested chains are spliced in; steps after a chord continue its body', () => {
    const json = chain(
      chain(add.s(1, 1), add.s(2)),
      chord([add.s(1), add.s(2)], tsum.s()),
      add.s(3),
    ).toJSON();
    const tasks = json.kwargs['tasks'] as Record<string, unknown>[];
    expect(tasks.map((t) => t['task'])).toEqual(['j.add', 'j.add', 'celery.chord']);
    expect(tasks[2]).toMatchObject({
      kwargs: {
        header: [{ task: 'j.add' }, { task: 'j.add' }],
        body: { subtask_type: 'chain', kwargs: { tasks: [{ task: 'j.tsum' }, { task: 'j.add' }] } },
      },
    });
  });

  it('a group of one followed by a step is unrolled into its part, as Celery’s maybe_unroll_group', () => {
    const json = chain(
      add.s(1, 1),
      group([chain(add.s(2), add.s(3))]),
      add.s(4),
      group([add.s(5)]),
    ).toJSON();
    const tasks = json.kwargs['tasks'] as Record<string, unknown>[];
    // the inner chain is spliced in; the last group of one stays a group
    expect(tasks.map((t) => t['task'])).toEqual([
      'j.add',
      'j.add',
      'j.add',
      'j.add',
      'celery.group',
    ]);
    expect(tasks.map((t) => t['args'])).toEqual([[1, 1], [2], [3], [4], []]);
    // a group of one before a step is no chord any more
    const single = chain(add.s(1, 1), group([add.s(2)]), tsum.s()).toJSON();
    expect((single.kwargs['tasks'] as Record<string, unknown>[]).map((t) => t['task'])).toEqual([
      'j.add',
      'j.add',
      'j.tsum',
    ]);
  });

  it('map, starmap and chunks are Celery’s xmap, xstarmap and chunks dicts', () => {
    expect(add.map([1, 2]).toJSON()).toMatchObject({
      task: 'celery.map',
      subtask_type: 'xmap',
      immutable: true,
      kwargs: { task: { task: 'j.add' }, it: [1, 2] },
      options: { queue: 'celery' },
    });
    expect(add.starmap([[1, 2]]).toJSON()).toMatchObject({
      task: 'celery.starmap',
      subtask_type: 'xstarmap',
    });
    expect(
      add
        .chunks(
          [
            [1, 2],
            [3, 4],
            [5, 6],
          ],
          2,
        )
        .toJSON(),
    ).toMatchObject({
      task: 'celery.chunks',
      subtask_type: 'chunks',
      kwargs: {
        n: 2,
        it: [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
      },
    });
    const g = add
      .chunks(
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
        2,
      )
      .group();
    expect(g.tasks.map((t) => (t.toJSON().kwargs['it'] as unknown[]).length)).toEqual([2, 1]);
    expect(() => add.chunks([], 0)).toThrow(
      expect.objectContaining({ code: 'CELERIAC_ERR_INVALID_OPTION' }),
    );
  });

  it('a chain ending in a group inside a group is refused with a typed error', () => {
    const inner = chain(add.s(1, 1), group([add.s(1), add.s(2)]));
    expect(() => group([inner, add.s(1, 1)]).applyAsync()).toThrow(
      expect.objectContaining({ code: 'CELERIAC_ERR_INVALID_OPTION' }),
    );
  });

  it('an unknown subtask_type is a typed error', () => {
    expect(() =>
      app.sendSignature({
        task: 'x',
        args: [],
        kwargs: {},
        options: {},
        subtask_type: 'nope',
        immutable: false,
      }),
    ).toThrow(expect.objectContaining({ code: 'CELERIAC_ERR_INVALID_OPTION' }));
  });
});
