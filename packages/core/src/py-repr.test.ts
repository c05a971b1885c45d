import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { excRepr, pyRepr } from './py-repr.js';

interface ReprFixture {
  cases: { value: unknown; as_tuple: boolean; repr: string }[];
}
interface TaskFixture {
  envelope: { headers: { argsrepr: string; kwargsrepr: string } };
  expected: { args: unknown[]; kwargs: Record<string, unknown> };
}

function fixture<T>(name: string): T {
  return JSON.parse(
    readFileSync(new URL(`../fixtures/celery/${name}`, import.meta.url), 'utf8'),
  ) as T;
}

describe('pyRepr', () => {
  const golden = fixture<ReprFixture>('py-repr.json');

  it('has golden cases', () => {
    expect(golden.cases.length).toBeGreaterThan(10);
  });

  it.each(golden.cases.map((c) => [c.repr, c] as const))(
    "matches Python's repr: %s",
    (_repr, c) => {
      expect(pyRepr(c.value, 1024, c.as_tuple)).toBe(c.repr);
    },
  );

  it('matches the argsrepr / kwargsrepr Celery sent for the plain golden message', () => {
    const f = fixture<TaskFixture>('task-plain-json.json');
    // Celery's send_task keeps a list as a list: its argsrepr is a list repr.
    expect(pyRepr(f.expected.args)).toBe(f.envelope.headers.argsrepr);
    expect(pyRepr(f.expected.kwargs)).toBe(f.envelope.headers.kwargsrepr);
  });

  it('writes a one-element tuple with its trailing comma', () => {
    expect(pyRepr([1], 1024, true)).toBe('(1,)');
    expect(pyRepr([[1]], 1024, true)).toBe('([1],)');
  });

  it('renders JS-only values readably', () => {
    expect(pyRepr(undefined)).toBe('None');
    expect(pyRepr(12345678901234567890n)).toBe('12345678901234567890');
    expect(pyRepr(new Date('2026-01-02T03:04:05Z'))).toBe("'2026-01-02T03:04:05.000Z'");
    expect(pyRepr(new Uint8Array(3))).toBe("b'<3 bytes>'");
  });

  it('bounds the output like saferepr', () => {
    const out = pyRepr(['x'.repeat(5000)]);
    expect(out.length).toBe(1024 + 3);
    expect(out.endsWith('...')).toBe(true);
    expect(pyRepr('abcdef', 4)).toBe("'abc...");
    expect(pyRepr([1, 2, 3], 100)).toBe('[1, 2, 3]');
  });

  it('stops descending into deeply nested values', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 20; i++) deep = [deep];
    const out = pyRepr(deep);
    expect(out).toContain('...');
    expect(out).not.toContain('bottom');
  });
});

describe('excRepr', () => {
  it("writes Python's repr of an exception", () => {
    expect(excRepr({ exc_type: 'ValueError', exc_message: ['boom'] })).toBe("ValueError('boom')");
    expect(excRepr({ exc_type: 'KeyError', exc_message: ['a', 1, null, true] })).toBe(
      "KeyError('a', 1, None, True)",
    );
    expect(excRepr({ exc_type: 'E', exc_message: [] })).toBe('E()');
  });
});
