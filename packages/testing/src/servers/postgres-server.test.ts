import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPostgresBin, startPostgresServer } from './postgres-server.js';

/** `SELECT 1` through psql over TCP, or the error. */
function select1(url: string): string {
  const bin = findPostgresBin() ?? '';
  return execFileSync(join(bin, 'psql'), [url, '-XAtc', 'SELECT 1'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

describe('startPostgresServer', () => {
  it('initdb and postgres on a free port of its own; kill, start again on the same data; stop removes it all', async () => {
    const saved = process.env['POSTGRES_URL'];
    delete process.env['POSTGRES_URL'];
    const pg = await startPostgresServer();
    try {
      expect(pg.url).toBe(`postgresql://postgres@127.0.0.1:${pg.port}/postgres`);
      expect(pg.port).not.toBe(5432);
      expect(select1(pg.url)).toBe('1');
      await pg.kill();
      expect(() => select1(pg.url)).toThrow();
      await pg.start();
      expect(select1(pg.url)).toBe('1');
    } finally {
      await pg.stop();
      await pg.stop();
      if (saved !== undefined) process.env['POSTGRES_URL'] = saved;
    }
    expect(existsSync(pg.dataDir)).toBe(false);
    expect(() => select1(pg.url)).toThrow();
  });

  it('uses POSTGRES_URL instead when it is set', async () => {
    const saved = process.env['POSTGRES_URL'];
    process.env['POSTGRES_URL'] = 'postgresql://u@db.example:6543/app';
    try {
      const pg = await startPostgresServer();
      expect(pg).toMatchObject({
        url: 'postgresql://u@db.example:6543/app',
        port: 6543,
        dataDir: '',
      });
      await pg.stop();
    } finally {
      if (saved === undefined) delete process.env['POSTGRES_URL'];
      else process.env['POSTGRES_URL'] = saved;
    }
  });
});
