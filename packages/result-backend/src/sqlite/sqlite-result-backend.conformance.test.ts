import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resultBackendConformance } from '@celeriac/testing';
import { afterAll } from 'vitest';
import { SqliteResultBackend } from './index.js';

// One file for the suite; every fixture instance is a connection of its own to it, as a
// worker and a client in two processes would be.
const dir = mkdtempSync(join(tmpdir(), 'celeriac-results-'));
const url = `sqlite://${join(dir, 'results.db')}`;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

resultBackendConformance('SqliteResultBackend', () => {
  const backend = new SqliteResultBackend({ url });
  return Promise.resolve({ backend, close: () => backend.close() });
});
