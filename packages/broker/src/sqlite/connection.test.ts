import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, isCeleriacError } from '@celeriac/core';
import { openSqlite, parseSqliteUrl, SqliteChangeFeed, type SqliteDatabase } from './connection.js';

describe('parseSqliteUrl', () => {
  it('resolves relative and absolute paths', () => {
    expect(parseSqliteUrl('sqlite://./celeriac.db', '/srv/app').file).toBe('/srv/app/celeriac.db');
    expect(parseSqliteUrl('sqlite://data/q.db', '/srv/app').file).toBe('/srv/app/data/q.db');
    expect(parseSqliteUrl('sqlite:///var/lib/celeriac.db', '/srv/app').file).toBe(
      '/var/lib/celeriac.db',
    );
  });

  it.each(['sqlite://', 'sqlite://:memory:', 'sqlite://./a.db?timeout=1', 'redis://x'])(
    'rejects %s',
    (url) => {
      let caught: unknown;
      try {
        parseSqliteUrl(url);
      } catch (err) {
        caught = err;
      }
      expect(isCeleriacError(caught) && caught.code).toBe(ErrorCodes.UNSUPPORTED_URL);
    },
  );
});

describe('SqliteChangeFeed', () => {
  const dirs: string[] = [];
  const dbs: SqliteDatabase[] = [];
  afterEach(() => {
    for (const db of dbs.splice(0)) db.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('opens in WAL mode and reports commits made by another connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-sqlite-'));
    dirs.push(dir);
    const url = `sqlite://${join(dir, 'sub', 'feed.db')}`;
    const a = openSqlite(url);
    const b = openSqlite(url);
    dbs.push(a.db, b.db);
    expect(a.db.pragma('journal_mode', { simple: true })).toBe('wal');
    a.db.exec('CREATE TABLE t (x INTEGER)');
    const feed = new SqliteChangeFeed(a.db, a.location, { pollIntervalMs: 10_000 });
    const seen = new Promise<void>((resolve) => {
      const stop = feed.subscribe(() => {
        stop();
        resolve();
      });
    });
    b.db.prepare('INSERT INTO t VALUES (1)').run();
    await seen; // through fs.watch: the poll is 10 s away and the test's timeout is 5 s
    feed.close();
  });
});
