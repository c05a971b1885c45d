import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HELP } from './index.js';

const doc = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8');

describe('docs/cli.md', () => {
  it('documents every command that `celeriac --help` lists', () => {
    const commands = [...HELP.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]);
    expect(commands).toEqual(
      expect.arrayContaining([
        'worker',
        'beat',
        'call',
        'result',
        'inspect',
        'control',
        'status',
        'purge',
        'dlq',
      ]),
    );
    for (const command of commands) expect(doc, command).toContain(`\`celeriac ${command}\``);
  });
});
