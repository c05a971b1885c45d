// @ts-check
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * Files that may import devDependencies: tests, their helpers and fixtures, benchmarks, examples,
 * the repository's scripts (packing, the quickstart test) and tool configs. Everything else (each package's src) may import only `dependencies` and
 * `peerDependencies` of its own package.json.
 */
const DEV_FILES = [
  '**/*.test.ts',
  '**/*.test-helper.ts',
  '**/test-fixtures/**',
  '**/bench/**',
  '**/examples/**',
  'scripts/**',
  '**/vitest.config.ts',
  'eslint.config.js',
];

export default tseslint.config(
  // lint-fixtures/ holds code that is wrong on purpose (an import cycle, an undeclared
  // dependency); packages/testing/src/eslint-config.test.ts lints it with `ignore: false`.
  { ignores: ['**/dist/**', '**/node_modules/**', 'lint-fixtures/**'] },
  {
    plugins: { 'import-x': importX },
    settings: {
      // Without a resolver import-x cannot follow `./x.js` to `x.ts`, so no-cycle and
      // no-extraneous-dependencies silently see nothing. The TypeScript resolver maps the
      // NodeNext `.js` specifiers to their `.ts` sources and reads package.json `exports`.
      'import-x/resolver-next': [createTypeScriptImportResolver({ alwaysTryTypes: true })],
      // ...and import-x must be told which files it may parse to follow imports further.
      'import-x/extensions': ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.mts', '.cts'] },
      'import-x/external-module-folders': ['node_modules', 'node_modules/@types'],
      // Not followed when looking for cycles: third-party typings (slow, and never import back
      // into this repo) and other packages' built output (turbo refuses cyclic package graphs, so
      // a cycle can only live inside one package's src).
      'import-x/ignore': ['[\\\\/]node_modules[\\\\/]', '[\\\\/]dist[\\\\/]'],
    },
    rules: {
      'import-x/no-cycle': 'error',
      'import-x/no-extraneous-dependencies': [
        'error',
        { devDependencies: DEV_FILES, optionalDependencies: false, includeInternal: true },
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '@celeriac/*/src',
                '@celeriac/*/src/**',
                '@celeriac/*/dist',
                '@celeriac/*/dist/**',
              ],
              message:
                "Import the package's public entry point (or a subpath it exports), not its src/ or dist/ files.",
            },
            {
              // Up and into another folder's src/ or dist/: another package, whatever its name.
              regex: '^(\\.\\./)+(packages/)?[a-z][a-z0-9-]*/(src|dist)(/|$)',
              message:
                'Import the other package by its name (@celeriac/...), not by a relative path into it.',
            },
          ],
        },
      ],
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.ts', '**/*.mts', '**/*.cts'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    // Plain JS (bench/, examples/, bins, test fixtures): the untyped rules, Node globals.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [js.configs.recommended],
    languageOptions: {
      ecmaVersion: 'latest',
      sourceType: 'module',
      globals: { ...globals.node },
    },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The dashboard's page: plain browser modules served as they are (no build step).
    files: ['packages/dashboard/static/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },
  {
    files: [
      '**/*.test.ts',
      '**/test-fixtures/**',
      'packages/testing/**',
      'packages/cli/**',
      '**/bench/**',
      '**/examples/**',
      'scripts/**',
      '.ci/**',
    ],
    rules: { 'no-console': 'off' },
  },
  {
    // Tests probe APIs in ways production code should not (async stubs, detached methods).
    files: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
