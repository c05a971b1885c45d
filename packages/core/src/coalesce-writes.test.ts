import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { coalesceWrites } from './coalesce-writes.js';

/** A stream that records each batch the way a socket sees it: one entry per write or writev. */
function recorder(highWaterMark = 16 * 1024): Writable & { batches: string[][] } {
  const batches: string[][] = [];
  const w = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, cb) {
      batches.push([chunk.toString()]);
      cb();
    },
    writev(chunks, cb) {
      batches.push(chunks.map((c) => (c.chunk as Buffer).toString()));
      cb();
    },
  });
  return Object.assign(w, { batches });
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('coalesceWrites', () => {
  it('sends the writes of one turn as one batch, in order, and later turns as their own', async () => {
    const plain = recorder();
    for (const s of ['a', 'b', 'c']) plain.write(s);
    await tick();
    expect(plain.batches).toEqual([['a'], ['b'], ['c']]); // one write each, as a socket does

    const s = coalesceWrites(recorder());
    for (const x of ['a', 'b', 'c']) s.write(x);
    await tick();
    s.write('d');
    s.write('e');
    await tick();
    expect(s.batches).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
  });

  it('keeps backpressure: write() returns false past the high-water mark, and drain fires', async () => {
    const s = coalesceWrites(recorder(4));
    expect(s.write('12')).toBe(true);
    expect(s.write('3456')).toBe(false);
    await new Promise<void>((resolve) => s.once('drain', resolve));
    expect(s.batches.flat().join('')).toBe('123456');
  });

  it('is idempotent and passes callbacks through', async () => {
    const s = coalesceWrites(coalesceWrites(recorder()));
    const done: string[] = [];
    s.write('x', () => done.push('x'));
    s.write('y', () => done.push('y'));
    await tick();
    expect(s.batches).toEqual([['x', 'y']]);
    expect(done).toEqual(['x', 'y']);
  });
});
