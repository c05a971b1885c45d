/**
 * The repository's lint rules are guards only if they can fail. This lints lint-fixtures/ (code
 * that is wrong on purpose, ignored by the normal run) with the root eslint.config.js and checks
 * that each rule reports what it must, and nothing where the code is fine. If import-x loses its
 * TypeScript resolver, `./pong.js` no longer resolves to pong.ts and the cycle test fails.
 */
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Rule ids reported per fixture file, keyed by the path relative to lint-fixtures/. */
let reported: Map<string, string[]>;

beforeAll(async () => {
  // ignore: false lifts the config's own `lint-fixtures/**` ignore for this run only.
  const eslint = new ESLint({ cwd: ROOT, ignore: false });
  const results = await eslint.lintFiles(['lint-fixtures']);
  reported = new Map(
    results.map((r) => [
      r.filePath.slice(`${ROOT}lint-fixtures/`.length),
      r.messages.map((m) => m.ruleId ?? `fatal: ${m.message}`),
    ]),
  );
}, 120_000);

function rulesFor(file: string): string[] {
  const rules = reported.get(file);
  if (rules === undefined)
    throw new Error(
      `lint-fixtures/${file} was not linted; linted: ${[...reported.keys()].join(', ')}`,
    );
  return rules;
}

describe('eslint.config.js', () => {
  it('reports an import cycle between two TypeScript files on both sides', () => {
    expect(rulesFor('cycle/ping.ts')).toEqual(['import-x/no-cycle']);
    expect(rulesFor('cycle/pong.ts')).toEqual(['import-x/no-cycle']);
  });

  it('passes the same shape without the back edge', () => {
    expect(rulesFor('no-cycle/caller.ts')).toEqual([]);
    expect(rulesFor('no-cycle/callee.ts')).toEqual([]);
  });

  it('reports a workspace package the nearest package.json does not declare', () => {
    expect(rulesFor('imports/undeclared-workspace.ts')).toEqual([
      'import-x/no-extraneous-dependencies',
    ]);
  });

  it('reports a devDependency imported outside tests, and allows it in a test', () => {
    expect(rulesFor('imports/dev-dep-in-src.ts')).toEqual(['import-x/no-extraneous-dependencies']);
    expect(rulesFor('imports/dev-dep-in-test.test.ts')).toEqual([]);
  });

  it("reports deep imports into another package's src or dist", () => {
    expect(rulesFor('imports/deep.ts')).toEqual(['no-restricted-imports', 'no-restricted-imports']);
  });

  it('lints plain JS with Node globals', () => {
    expect(rulesFor('imports/script.js')).toEqual(['no-undef']);
  });
});
