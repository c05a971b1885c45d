import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beatConfigFrom, type BeatConfig } from '@celeriac/beat';
import { Celeriac } from '@celeriac/client';
import { UsageError } from './usage-error.js';

function isApp(value: unknown): value is Celeriac {
  return (
    value instanceof Celeriac ||
    (typeof value === 'object' &&
      value !== null &&
      'tasks' in value &&
      typeof (value as { task?: unknown }).task === 'function' &&
      typeof (value as { broker?: unknown }).broker === 'function')
  );
}

/** An `--app` spec taken apart: `./dist/app.js:myApp` → the file, the export, the path. */
interface AppSpec {
  readonly file: string;
  readonly exportName: string | undefined;
  /** The absolute path, when `file` is a path rather than a package name. */
  readonly path: string | undefined;
}

function parseAppSpec(spec: string, cwd: string): AppSpec {
  const colon = spec.lastIndexOf(':');
  const hasExport = colon > 1 && !/^[a-zA-Z]:[\\/]/.test(spec.slice(colon - 1)); // not a Windows drive
  const file = hasExport ? spec.slice(0, colon) : spec;
  const looksLikePath = file.startsWith('.') || isAbsolute(file) || /\.[cm]?[jt]s$/.test(file);
  return {
    file,
    exportName: hasExport ? spec.slice(colon + 1) : undefined,
    path: looksLikePath ? resolve(cwd, file) : undefined,
  };
}

/**
 * Loads the app module named by `--app`: `./dist/app.js` (its `app` or default export) or
 * `./dist/app.js:myApp` for a named export. A bare package name is imported as a package.
 * TypeScript sources load through a loader, e.g. `NODE_OPTIONS="--import tsx"`.
 */
export async function loadApp(spec: string, cwd = process.cwd()): Promise<Celeriac> {
  const { file, exportName, path } = parseAppSpec(spec, cwd);
  if (path !== undefined && !existsSync(path)) {
    throw new UsageError(
      `--app ${spec}: ${path} does not exist (build your app first, e.g. "npx tsc", and point --app at the .js file)`,
    );
  }
  const target = path === undefined ? file : pathToFileURL(path).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(target)) as Record<string, unknown>;
  } catch (err) {
    const hint = /\.ts$/.test(file)
      ? ' (for TypeScript, run with NODE_OPTIONS="--import tsx" or build to JavaScript)'
      : '';
    throw new UsageError(`--app ${spec}: cannot load the module: ${(err as Error).message}${hint}`);
  }
  const candidates = exportName ? [exportName] : ['app', 'default', 'celeriac'];
  for (const name of candidates) {
    const value = mod[name];
    if (isApp(value)) return value;
  }
  throw new UsageError(
    `--app ${spec}: the module has no Celeriac app ${exportName ? `named "${exportName}"` : 'exported as "app" or default'}: add "export const app = new Celeriac(...)"`,
  );
}

/** The `beat` export of the app module (already imported by `loadApp`, so this is the cached module). */
export async function loadBeatConfig(appSpec: string, cwd = process.cwd()): Promise<BeatConfig> {
  const { file, path } = parseAppSpec(appSpec, cwd);
  const mod = (await import(path === undefined ? file : pathToFileURL(path).href)) as Record<
    string,
    unknown
  >;
  return beatConfigFrom(mod['beat'], `--app ${appSpec}`);
}
