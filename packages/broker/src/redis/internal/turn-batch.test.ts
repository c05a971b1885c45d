import { describe, expect, it } from 'vitest';
import { slices, TurnBatch } from './turn-batch.js';

describe('TurnBatch', () => {
  it('hands over what one turn added, in order, once the turn is over', async () => {
    const flushed: number[][] = [];
    const batch = new TurnBatch<number>((items) => flushed.push(items));
    batch.add(1);
    batch.add(2);
    expect(flushed).toEqual([]);
    await new Promise<void>((resolve) => process.nextTick(resolve));
    batch.add(3);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(flushed).toEqual([[1, 2], [3]]);
  });
});

describe('slices', () => {
  it('cuts into runs of at most max, and keeps a short array whole', () => {
    const short = [1, 2];
    expect(slices(short, 2)[0]).toBe(short);
    expect(slices([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(slices([], 3)).toEqual([[]]);
  });
});
