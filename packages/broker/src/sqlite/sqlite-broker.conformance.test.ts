import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { brokerConformance } from '@celeriac/testing';
import { SqliteBroker } from './index.js';

// One file for the suite; each fixture opens its own connection to it, as separate processes do.
const dir = mkdtempSync(join(tmpdir(), 'celeriac-sqlite-conformance-'));
const url = `sqlite://${join(dir, 'broker.db')}`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

brokerConformance(
  'SqliteBroker',
  () => {
    const broker = new SqliteBroker({ url });
    return Promise.resolve({ broker, close: () => broker.close() });
  },
  { priority: 'lower-first', delayToleranceMs: 1000 },
);
