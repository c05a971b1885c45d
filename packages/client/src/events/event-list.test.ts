import { describe, expect, it } from 'vitest';
import { EventList } from './event-list.js';

describe('EventList', () => {
  it('hands out the events written as the UTF-8 bytes of one JSON list, then starts over', () => {
    const list = new EventList(8);
    list.push('{"a":1}');
    list.push('{"b":"é€😀"}');
    expect(list.count).toBe(2);
    const first = list.take();
    expect(JSON.parse(first.toString('utf8'))).toEqual([{ a: 1 }, { b: 'é€😀' }]);
    expect(list.count).toBe(0);
    list.push('{"c":3}');
    expect(JSON.parse(list.take().toString('utf8'))).toEqual([{ c: 3 }]);
    // What was taken is a copy: writing on does not change it.
    expect(JSON.parse(first.toString('utf8'))).toEqual([{ a: 1 }, { b: 'é€😀' }]);
  });

  it('grows past its first size, keeping what it holds', () => {
    const list = new EventList(16);
    const events = Array.from({ length: 500 }, (_, i) => ({ i, s: 'x'.repeat(i % 50) }));
    for (const e of events) list.push(JSON.stringify(e));
    expect(JSON.parse(list.take().toString('utf8'))).toEqual(events);
  });
});
