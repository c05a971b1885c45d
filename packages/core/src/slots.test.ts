import { describe, expect, it } from 'vitest';
import { Slots } from './slots.js';

const item = (name: string) => ({ name, slot: -1 });

describe('Slots', () => {
  it('adds, deletes, finds and lists members, reusing freed slots', () => {
    const s = new Slots<ReturnType<typeof item>>();
    const [a, b, c] = [item('a'), item('b'), item('c')];
    s.add(a);
    s.add(b);
    s.add(c);
    expect(s.size).toBe(3);
    expect(s.delete(b)).toBe(true);
    expect(b.slot).toBe(-1);
    expect(s.delete(b)).toBe(false);
    expect(s.size).toBe(2);
    expect(s.values().map((x) => x.name)).toEqual(['a', 'c']);
    const d = item('d');
    s.add(d);
    expect(d.slot).toBe(1); // b's slot
    expect(s.find((x) => x.name === 'd')).toBe(d);
    expect(s.find((x) => x.name === 'b')).toBeUndefined();
    // An item that is not a member, even one claiming a member's slot, is not deleted.
    expect(s.delete({ name: 'fake', slot: 0 })).toBe(false);
    expect(s.size).toBe(3);
  });

  it('stops growing at the most members held at once', () => {
    const s = new Slots<ReturnType<typeof item>>();
    for (let round = 0; round < 100; round++) {
      const batch = Array.from({ length: 10 }, (_, i) => item(`${round}.${i}`));
      for (const x of batch) s.add(x);
      for (const x of batch) s.delete(x);
    }
    const x = item('last');
    s.add(x);
    expect(x.slot).toBeLessThan(10);
    expect(s.size).toBe(1);
  });
});
