import { describe, expect, it } from 'vitest';
import {
  bindingMember,
  bindingSetKey,
  parseBindingMember,
  priorityStep,
  readyListKey,
  readyListKeys,
} from './keys.js';

describe('kombu key layout', () => {
  it('maps priorities to steps exactly as kombu (5.2) does', () => {
    // Computed with kombu's _get_message_priority + Channel.priority (bisect over [0, 3, 6, 9]).
    const kombu: [unknown, number][] = [
      [undefined, 0],
      [null, 0],
      [0, 0],
      [1, 0],
      [2, 0],
      [3, 3],
      [4, 3],
      [5, 3],
      [6, 6],
      [7, 6],
      [8, 6],
      [9, 9],
      [10, 9],
      [-1, 0],
      [2.9, 0],
      ['5', 3],
      ['x', 0],
      [true, 0],
    ];
    for (const [priority, step] of kombu)
      expect(priorityStep(priority), String(priority)).toBe(step);
  });

  it('names priority lists <queue>\\x06\\x16<step>, step 0 being the bare queue', () => {
    expect(readyListKey('celery', 0)).toBe('celery');
    expect(readyListKey('celery', 3)).toBe('celery\x06\x163');
    expect(readyListKeys('q')).toEqual(['q', 'q\x06\x163', 'q\x06\x166', 'q\x06\x169']);
  });

  it('writes bindings as kombu _queue_bind does', () => {
    expect(bindingSetKey('celery')).toBe('_kombu.binding.celery');
    expect(bindingMember('celery', 'celery')).toBe('celery\x06\x16\x06\x16celery');
    expect(parseBindingMember('rk\x06\x16\x06\x16q')).toEqual({
      routingKey: 'rk',
      pattern: '',
      queue: 'q',
    });
    expect(parseBindingMember('nonsense')).toBeUndefined();
  });
});
