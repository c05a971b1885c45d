import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  EXCEPTION_STATES,
  isReadyState,
  PROPAGATE_STATES,
  READY_STATES,
  statePrecedence,
  States,
  UNREADY_STATES,
} from './states.js';

interface StatesFixture {
  ALL_STATES: string[];
  READY_STATES: string[];
  UNREADY_STATES: string[];
  EXCEPTION_STATES: string[];
  PROPAGATE_STATES: string[];
  precedence: Record<string, number>;
  by_precedence: string[];
}

const celery = JSON.parse(
  readFileSync(new URL('../fixtures/celery/states.json', import.meta.url), 'utf8'),
) as StatesFixture;

const sorted = (s: ReadonlySet<string>): string[] => [...s].sort();

describe('task states match celery.states', () => {
  it('spells every Celery state the same way', () => {
    expect(celery.ALL_STATES.length).toBeGreaterThan(5);
    const ours = Object.values(States) as string[];
    for (const s of celery.ALL_STATES) expect(ours).toContain(s);
    for (const [key, value] of Object.entries(States)) expect(key).toBe(value);
  });

  it('has the same state sets', () => {
    expect(sorted(READY_STATES)).toEqual(celery.READY_STATES);
    expect(sorted(UNREADY_STATES)).toEqual(celery.UNREADY_STATES);
    expect(sorted(EXCEPTION_STATES)).toEqual(celery.EXCEPTION_STATES);
    expect(sorted(PROPAGATE_STATES)).toEqual(celery.PROPAGATE_STATES);
  });

  it.each(Object.entries(celery.precedence))('ranks %s where Celery does (%i)', (state, rank) => {
    expect(statePrecedence(state)).toBe(rank);
  });

  it('sorts by precedence as Celery does, custom states between FAILURE and REVOKED', () => {
    const shuffled = [...celery.by_precedence].reverse();
    expect(shuffled.sort((a, b) => statePrecedence(a) - statePrecedence(b))).toEqual(
      celery.by_precedence,
    );
    expect(statePrecedence('ANOTHER_CUSTOM')).toBe(statePrecedence('PROGRESS'));
  });

  it('isReadyState is true exactly for the ready states', () => {
    for (const s of celery.ALL_STATES)
      expect(isReadyState(s)).toBe(celery.READY_STATES.includes(s));
    expect(isReadyState('PROGRESS')).toBe(false);
  });
});
