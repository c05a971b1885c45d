import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes, isCeleriacError } from '@celeriac/core';
import { coordinationConformance } from '@celeriac/testing';
import { SqliteCoordination } from './sqlite-coordination.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-sqlite-coordination-'));
const url = `sqlite://${join(dir, 'coordination.db')}`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Two connections to one file: two processes' view.
coordinationConformance('SqliteCoordination', () => {
  const a = new SqliteCoordination({ url });
  const b = new SqliteCoordination({ url });
  return Promise.resolve({
    a,
    b,
    close: async () => void (await Promise.all([a.close(), b.close()])),
  });
});

describe('SqliteCoordination', () => {
  it('rejects an unknown option, naming it and the nearest valid one', () => {
    let caught: unknown;
    try {
      new SqliteCoordination({ url, busyTimeout: 10 } as never);
    } catch (err) {
      caught = err;
    }
    expect(isCeleriacError(caught, ErrorCodes.INVALID_OPTION)).toBe(true);
    expect((caught as Error).message).toContain('"busyTimeout"');
    expect((caught as Error).message).toContain('busyTimeoutMs');
  });

  it('refuses work after close, and close is idempotent', async () => {
    const c = new SqliteCoordination({ url });
    await c.close();
    await c.close();
    const err: unknown = await c.claimUnique('k', 'id', 100).catch((e: unknown) => e);
    expect(isCeleriacError(err, ErrorCodes.CLOSED)).toBe(true);
  });
});
