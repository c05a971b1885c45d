import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, it } from 'vitest';
import { editsActedOnAtOnce } from '../beat-edit.test-helper.js';
import { SqliteScheduleStore } from './sqlite-schedule-store.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-beat-edit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('on SQLite, an edit through another connection is acted on by the leader at once (data_version), not at its next poll', async () => {
  const url = `sqlite://${join(dir, 'beat.db')}`;
  await editsActedOnAtOnce((origin) => new SqliteScheduleStore({ url, origin }));
});
