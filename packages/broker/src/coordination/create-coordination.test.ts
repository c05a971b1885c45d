import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '@celeriac/core';
import { rejectionOf } from '@celeriac/testing';
import { createCoordination } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-create-coordination-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('createCoordination', () => {
  it('serves memory:// in process', async () => {
    const c = await createCoordination('memory://create-coordination-test');
    expect(c.kind).toBe('memory');
    await c.revoke(['t1'], { ttlMs: 60_000, terminate: false });
    const watch = await c.watchRevocations(() => undefined);
    expect(watch.current.map((r) => r.id)).toEqual(['t1']);
    await watch.stop();
    await c.close();
  });

  it('refuses another scheme with UNSUPPORTED_URL, the password hidden', async () => {
    const err = await rejectionOf(() => createCoordination('amqp://bob:secret@h//'));
    expect(err.code).toBe(ErrorCodes.UNSUPPORTED_URL);
    expect(err.message).toContain('amqp://bob:***@h//');
    expect(err.message).not.toContain('secret');
  });

  it('importing @celeriac/broker/coordination loads neither ioredis nor better-sqlite3; a driver subpath or URL does', () => {
    const sqliteUrl = `sqlite://${join(dir, 'coordination.db')}`;
    const script = `
      const { createRequire } = await import('node:module');
      const has = (name) => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/' + name + '/'));
      const { createCoordination } = await import('@celeriac/broker/coordination');
      const before = [has('ioredis'), has('better-sqlite3')];
      await import('@celeriac/broker/coordination/redis');
      const redis = has('ioredis');
      const c = await createCoordination(${JSON.stringify(sqliteUrl)});
      const sqlite = has('better-sqlite3');
      await c.close();
      console.log(JSON.stringify({ before, redis, sqlite }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
    });
    expect(JSON.parse(out.trim())).toEqual({ before: [false, false], redis: true, sqlite: true });
  });
});
