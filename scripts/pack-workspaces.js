// Packs every publishable workspace (not the private ones) with `npm pack`, which runs each
// package's `prepack` (a turbo build of it and its dependencies), into `dest`.
// Used by check-packages.js and the quickstart test.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The workspaces that get published: name and directory. */
export function publishableWorkspaces() {
  const dir = join(ROOT, 'packages');
  return readdirSync(dir)
    .map((name) => ({
      dir: join(dir, name),
      pkg: JSON.parse(readFileSync(join(dir, name, 'package.json'), 'utf8')),
    }))
    .filter(({ pkg }) => pkg.private !== true)
    .map(({ dir, pkg }) => ({ name: pkg.name, dir }));
}

/** Runs `npm pack` for each publishable workspace; resolves to `[{ name, tarball }]`. */
export function packWorkspaces(dest) {
  const workspaces = publishableWorkspaces();
  const args = [
    'pack',
    '--json',
    '--pack-destination',
    dest,
    ...workspaces.flatMap((w) => ['--workspace', w.name]),
  ];
  const out = execFileSync('npm', args, {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // prepack's own output may precede the JSON array on stdout.
  const packed = JSON.parse(out.slice(out.indexOf('\n[') + 1 || out.indexOf('[')));
  return packed.map((p) => ({
    name: p.name,
    tarball: join(dest, p.filename),
    files: p.files.map((f) => f.path),
  }));
}

// `node scripts/pack-workspaces.js <dest>` (`npm run pack:all -- <dest>`): the tarballs to install.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dest = process.argv[2];
  if (!dest) {
    console.error('usage: node scripts/pack-workspaces.js <destination folder>');
    process.exit(2);
  }
  mkdirSync(dest, { recursive: true });
  for (const { tarball } of packWorkspaces(resolve(dest))) console.log(tarball);
}
