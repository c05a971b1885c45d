import { describe, expect, it } from 'vitest';
import * as beat from '@celeriac/beat';
import * as client from '@celeriac/client';
import * as worker from '@celeriac/worker';
import * as celeriac from './index.js';

describe('the celeriac umbrella package', () => {
  it('re-exports every runtime export of @celeriac/client, @celeriac/worker and @celeriac/beat, as the same objects', () => {
    const expected = new Map<string, unknown>([
      ...Object.entries(client),
      ...Object.entries(worker),
      ...Object.entries(beat),
    ]);
    expect(Object.keys(celeriac).sort()).toEqual([...expected.keys()].sort());
    for (const [name, value] of expected)
      expect(celeriac[name as keyof typeof celeriac], name).toBe(value);
  });
});
