#!/usr/bin/env node
// Keeps production source files small enough to hold one concept each: no file under
// packages/*/src over MAX_LINES lines, tests, test helpers and fixtures aside (the private
// packages/testing is test code throughout: servers and conformance suites). A file that
// grows past it is a sign that a second concept moved in; cut it along that seam (see
// docs/architecture.md) rather than raising the limit.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAX_LINES = 450;
const root = fileURLToPath(new URL('..', import.meta.url));
const packagesDir = join(root, 'packages');

const isProduction = (path) =>
  path.endsWith('.ts') &&
  !path.endsWith('.d.ts') &&
  !/\.test\.ts$|\.test-helper\.ts$/.test(path) &&
  !/(^|\/)(fixtures|__fixtures__)(\/|$)/.test(path);

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}

const tooLong = [];
let checked = 0;
for (const pkg of readdirSync(packagesDir)) {
  if (pkg === 'testing') continue;
  const src = join(packagesDir, pkg, 'src');
  try {
    statSync(src);
  } catch {
    continue;
  }
  for (const path of walk(src)) {
    const rel = relative(root, path);
    if (!isProduction(rel)) continue;
    checked += 1;
    const text = readFileSync(path, 'utf8');
    const lines = text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
    if (lines > MAX_LINES) tooLong.push({ rel, lines });
  }
}

if (tooLong.length > 0) {
  console.error(`file sizes: ${tooLong.length} production file(s) over ${MAX_LINES} lines:`);
  for (const { rel, lines } of tooLong.sort((a, b) => b.lines - a.lines)) {
    console.error(`  ${rel}: ${lines} lines`);
  }
  console.error('Cut each along a seam of its own concept (docs/architecture.md says where).');
  process.exit(1);
}
console.log(`file sizes: ${checked} production files, none over ${MAX_LINES} lines`);
