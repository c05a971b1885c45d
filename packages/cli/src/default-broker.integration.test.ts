/**
 * With no broker configured anywhere (no --broker, no CELERIAC_BROKER_URL, an app module
 * that names none), the CLI's processes meet on the embedded default, sqlite://./celeriac.db
 * in the folder they run in, with results in the same file.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startWorkerProcess } from './spawn-cli.test-helper.js';

const DEFAULT_APP = fileURLToPath(new URL('../test-fixtures/default-app.js', import.meta.url));
const noBroker = { CELERIAC_BROKER_URL: undefined, CELERIAC_RESULT_BACKEND: undefined };

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-default-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the default broker', () => {
  it('a worker and `call --wait` with nothing configured meet on ./celeriac.db', async () => {
    const worker = await startWorkerProcess(['-c', '2'], noBroker, DEFAULT_APP, dir);
    try {
      expect(worker.log()).not.toMatch(/memory:\/\//);
      const called = await runCli(
        ['call', 'tasks.add', '--args', '[2, 3]', '--wait'],
        noBroker,
        60_000,
        dir,
      );
      expect(called.stderr).toBe('');
      expect(called.stdout.trim()).toBe('5');
      expect(existsSync(join(dir, 'celeriac.db'))).toBe(true);
    } finally {
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
    }
  });
});
