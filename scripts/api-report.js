// `npm run api:check` / `npm run api:update`: the public API of every published package, one
// report per public entry point (each package.json "exports" subpath except `./internal`,
// `./<x>/internal` and `./package.json`), written by api-extractor from the built `.d.ts`
// (run `turbo run build` first) to `packages/<pkg>/api/<entry>.api.md`. A changed public
// signature is then a visible diff in review: `check` fails and prints it until `update`
// rewrites the report and the new report is committed.
//
// api-extractor analyses one entry point per run (it has no multi-entry support), so each
// subpath gets its own run and report. Entry points of one package share nothing between runs;
// every run builds a fresh program over the `.d.ts` files only, which keeps all of them fast.
import { Extractor, ExtractorConfig, ExtractorLogLevel } from '@microsoft/api-extractor';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { publishableWorkspaces, ROOT } from './pack-workspaces.js';

const mode = process.argv[2];
if (mode !== 'check' && mode !== 'update') {
  console.error('usage: node scripts/api-report.js check|update [package-name ...]');
  process.exit(2);
}
const only = process.argv.slice(3);

/**
 * The public entry points of a package: `{ subpath, name, types }` for each "exports" key with
 * a `types` condition, internal subpaths left out (they are not public API by definition).
 */
function publicEntries(pkg) {
  const entries = [];
  for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
    if (subpath === './package.json' || /(^|\/)internal$/.test(subpath)) continue;
    const types = typeof target === 'object' && target !== null ? target.types : undefined;
    if (typeof types !== 'string') continue;
    const name = subpath === '.' ? 'index' : subpath.slice(2).replaceAll('/', '-');
    entries.push({ subpath, name, types });
  }
  return entries;
}

/**
 * The message rules that do not fit this codebase, turned off (the reports stay the same for
 * everyone, and nothing here fails a run except a changed or missing report):
 * - ae-missing-release-tag: we do not tag `@public` / `@beta`; a name is public because a
 *   public door exports it, and internal because it lives behind an `./internal` subpath.
 * - ae-internal-missing-underscore: same reason, we use no `@internal` tags.
 * - ae-forgotten-export stays *in the report* (as a `// Warning:` line) but does not fail:
 *   a public signature naming a type no door exports is worth seeing in review, not a
 *   build failure.
 * - tsdoc-*: our TSDoc uses `@default` and other tags outside the strict TSDoc standard.
 * - ae-unresolved-link: `{@link}` to names in other packages or internal doors.
 * - ae-undocumented: every export has TSDoc (lint and review see to it); members such as a
 *   class's `kind` field or an interface method restating its contract often do not, and
 *   the report already marks them `// (undocumented)`.
 *
 * Subpaths of one package share types through relative imports (`@celeriac/beat/redis` uses
 * `ScheduleStore` from `../schedule-store.js`), which api-extractor sees as part of that entry
 * point: the report of each subpath repeats such a type with an ae-forgotten-export line,
 * instead of importing it from the package's main door. Harmless: a change to the shared type
 * shows in every report that uses it.
 */
const messages = {
  compilerMessageReporting: { default: { logLevel: 'warning' } },
  extractorMessageReporting: {
    default: { logLevel: 'warning', addToApiReportFile: false },
    'ae-missing-release-tag': { logLevel: 'none', addToApiReportFile: false },
    'ae-internal-missing-underscore': { logLevel: 'none', addToApiReportFile: false },
    'ae-forgotten-export': { logLevel: 'none', addToApiReportFile: true },
    'ae-unresolved-link': { logLevel: 'none', addToApiReportFile: false },
    'ae-undocumented': { logLevel: 'none', addToApiReportFile: false },
  },
  tsdocMessageReporting: { default: { logLevel: 'none', addToApiReportFile: false } },
};

const REPORT_MESSAGES = new Set([
  'console-api-report-not-copied',
  'console-api-report-copied',
  'console-api-report-created',
]);

const temp = mkdtempSync(join(tmpdir(), 'celeriac-api-'));
const failures = [];
let checked = 0;
try {
  for (const { name: pkgName, dir } of publishableWorkspaces()) {
    if (only.length > 0 && !only.includes(pkgName)) continue;
    const packageJsonFullPath = join(dir, 'package.json');
    const pkg = JSON.parse(readFileSync(packageJsonFullPath, 'utf8'));
    const reportFolder = join(dir, 'api');
    const entries = publicEntries(pkg);
    const expected = new Set(entries.map((e) => `${e.name}.api.md`));
    for (const entry of entries) {
      const dts = join(dir, entry.types);
      const label = `${pkgName}${entry.subpath === '.' ? '' : entry.subpath.slice(1)}`;
      if (!existsSync(dts)) {
        failures.push(`${label}: ${relative(ROOT, dts)} does not exist (run turbo run build)`);
        continue;
      }
      const reportFile = join(reportFolder, `${entry.name}.api.md`);
      const hadReport = existsSync(reportFile);
      const reportTempFolder = join(temp, pkgName.replace('/', '+'));
      mkdirSync(reportTempFolder, { recursive: true });
      const config = ExtractorConfig.prepare({
        configObjectFullPath: join(dir, 'api-extractor.json'), // not read: only the base of paths
        packageJsonFullPath,
        configObject: {
          projectFolder: dir,
          mainEntryPointFilePath: dts,
          compiler: {
            overrideTsconfig: {
              compilerOptions: {
                target: 'ES2022',
                lib: ['ES2023'],
                module: 'NodeNext',
                moduleResolution: 'NodeNext',
                types: ['node'],
                strict: true,
                skipLibCheck: true,
              },
              files: [dts],
            },
          },
          apiReport: {
            enabled: true,
            reportFolder,
            reportTempFolder,
            reportFileName: entry.name,
          },
          docModel: { enabled: false },
          dtsRollup: { enabled: false },
          tsdocMetadata: { enabled: false },
          messages,
        },
      });
      mkdirSync(reportFolder, { recursive: true });
      const result = Extractor.invoke(config, {
        localBuild: mode === 'update',
        showVerboseMessages: false,
        messageCallback: (message) => {
          // Report written / not copied / missing: the lines below say it with the diff.
          if (REPORT_MESSAGES.has(message.messageId)) message.handled = true;
          if (message.logLevel === ExtractorLogLevel.Info) message.handled = true;
          if (message.logLevel === ExtractorLogLevel.Verbose) message.handled = true;
        },
      });
      checked++;
      if (mode === 'update' && result.apiReportChanged)
        console.log(`wrote ${relative(ROOT, reportFile)}`);
      if (!result.succeeded && mode === 'update') {
        failures.push(
          `${label}: api-extractor failed (${result.errorCount} errors, ${result.warningCount} warnings, printed above)`,
        );
      } else if (mode === 'check' && (result.apiReportChanged || !hadReport)) {
        const fresh = join(reportTempFolder, `${entry.name}.api.md`);
        const diff = hadReport
          ? spawnSync(
              'diff',
              [
                '-u',
                '--label',
                `${relative(ROOT, reportFile)} (committed)`,
                '--label',
                `${relative(ROOT, reportFile)} (built)`,
                reportFile,
                fresh,
              ],
              {
                cwd: ROOT,
                encoding: 'utf8',
              },
            ).stdout
          : '';
        failures.push(
          hadReport
            ? `${label}: the public API differs from ${relative(ROOT, reportFile)}:\n${diff}`
            : `${label}: no report ${relative(ROOT, reportFile)} yet`,
        );
      } else if (!result.succeeded) {
        failures.push(
          `${label}: api-extractor failed (${result.errorCount} errors, ${result.warningCount} warnings, printed above)`,
        );
      }
    }
    // A report whose entry point is gone (a subpath removed or renamed) is stale.
    if (existsSync(reportFolder)) {
      for (const file of readdirSync(reportFolder)) {
        if (!file.endsWith('.api.md') || expected.has(file)) continue;
        if (mode === 'update') rmSync(join(reportFolder, file));
        else
          failures.push(
            `${pkgName}: ${file} reports an entry point package.json no longer exports`,
          );
      }
    }
  }
} finally {
  rmSync(temp, { recursive: true, force: true });
}

if (failures.length > 0) {
  for (const f of failures) console.error(`FAIL  ${f}`);
  if (mode === 'check')
    console.error(
      '\nA public signature changed. If that is intended, run `npm run api:update` and commit ' +
        'the reports (and add a changeset: `npx changeset`).',
    );
  process.exit(1);
}
console.log(`${checked} API reports ${mode === 'update' ? 'written' : 'up to date'}`);
