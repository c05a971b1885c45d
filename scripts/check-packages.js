// `npm run check:packages`: packs every publishable package as `npm publish` would, then
// checks each tarball: publint (package.json against its files), are-the-types-wrong
// (types resolve under Node's ESM rules: the packages are ESM only), and what it must hold
// (dist, README.md, LICENSE; no tests). Exits 1 on any problem.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packWorkspaces, ROOT } from './pack-workspaces.js';

const dest = mkdtempSync(join(tmpdir(), 'celeriac-pack-'));
const problems = [];
try {
  const packed = packWorkspaces(dest);
  for (const { name, tarball, files } of packed) {
    const pkg = JSON.parse(
      readFileSync(
        join(ROOT, 'packages', name.replace(/^@celeriac\//, ''), 'package.json'),
        'utf8',
      ),
    );
    const must = ['README.md', 'LICENSE', 'package.json', ...exportTargets(pkg)];
    for (const file of must)
      if (!files.includes(file)) problems.push(`${name}: the tarball has no ${file}`);
    for (const file of files)
      if (/\.test(-helper)?\.ts$/.test(file))
        problems.push(`${name}: the tarball ships the test ${file}`);
    if (pkg.sideEffects === undefined) problems.push(`${name}: package.json has no "sideEffects"`);
    if (!pkg.engines?.node) problems.push(`${name}: package.json has no "engines.node"`);
    for (const [tool, args] of [
      ['publint', ['publint', 'run', '--strict', tarball]],
      ['attw', ['attw', '--profile', 'esm-only', '--no-emoji', '--no-color', tarball]],
    ]) {
      try {
        execFileSync('npx', ['--no-install', ...args], {
          cwd: ROOT,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        console.log(`ok    ${name}: ${tool}`);
      } catch (err) {
        problems.push(`${name}: ${tool} found problems:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
      }
    }
  }
  console.log(`${packed.length} packages packed and checked`);
} finally {
  rmSync(dest, { recursive: true, force: true });
}
if (problems.length > 0) {
  for (const p of problems) console.error(`FAIL  ${p}`);
  process.exit(1);
}

/** Every file the "exports" and "bin" fields name, as paths inside the tarball. */
function exportTargets(pkg) {
  const targets = [];
  const walk = (v) => {
    if (typeof v === 'string') targets.push(v.replace(/^\.\//, ''));
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(pkg.exports);
  walk(pkg.bin);
  return targets.filter((t) => !t.includes('*'));
}
