import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Celeriac } from '@celeriac/client';
import { CeleriacError, ErrorCodes } from '@celeriac/core';

/** An app module resolved in the worker, so every thread or child loads the same file. */
export interface AppModuleRef {
  /** As given, for messages. */
  readonly spec: string;
  /** What `import()` takes: a file URL, or a package name. */
  readonly specifier: string;
  /** The export that holds the app; undefined tries `app`, `default`, `celeriac`. */
  readonly exportName: string | undefined;
  /**
   * The broker and result backend URLs the worker's own app uses, applied to the app each
   * member loads (`app.overrideUrls`), so a task that publishes from a thread or child reaches
   * the broker `celeriac worker --broker …` named, not the one written in the module.
   */
  readonly urls?: { readonly broker?: string; readonly backend?: string };
}

/**
 * Pool options whose app module carries the URLs of the worker's app. Only reachable ones are passed: a `memory://`
 * broker lives in the worker's process, so a member cannot share it anyway.
 */
export function withAppUrls<T extends { readonly appModule: AppModuleRef }>(
  pool: T,
  app: Celeriac,
): T {
  const { brokerUrl, backendUrl } = app.options;
  const reachable = (url: string | false | undefined): url is string =>
    typeof url === 'string' && !url.startsWith('memory:');
  const urls = {
    ...(reachable(brokerUrl) ? { broker: brokerUrl } : {}),
    ...(reachable(backendUrl) ? { backend: backendUrl } : {}),
  };
  if (Object.keys(urls).length === 0) return pool;
  return { ...pool, appModule: { ...pool.appModule, urls } };
}

/**
 * Splits `file.js:exportName` (the CLI's `--app` syntax) and resolves a path against `cwd`.
 * Resolving here, not in the child, means a bad path fails `new Worker()` at once.
 */
export function resolveAppModule(spec: string, cwd: string): AppModuleRef {
  const colon = spec.lastIndexOf(':');
  const hasExport = colon > 1 && !/^[a-zA-Z]:[\\/]/.test(spec.slice(colon - 1)); // not a Windows drive
  const file = hasExport ? spec.slice(0, colon) : spec;
  const exportName = hasExport ? spec.slice(colon + 1) : undefined;
  if (file.startsWith('file:')) return { spec, specifier: file, exportName };
  const looksLikePath = file.startsWith('.') || isAbsolute(file) || /\.[cm]?[jt]s$/.test(file);
  if (!looksLikePath) return { spec, specifier: file, exportName };
  const path = resolve(cwd, file);
  if (!existsSync(path)) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `appModule ${spec}: ${path} does not exist (point it at the built .js file that defines the app)`,
      { details: { option: 'appModule', value: spec, expected: 'an existing .js module' } },
    );
  }
  return { spec, specifier: pathToFileURL(path).href, exportName };
}

function isApp(value: unknown): value is Celeriac {
  return (
    typeof value === 'object' &&
    value !== null &&
    'tasks' in value &&
    typeof (value as { task?: unknown }).task === 'function' &&
    typeof (value as { broker?: unknown }).broker === 'function'
  );
}

/** Imports the app module and finds the app in it (in a pool thread or child). */
export async function loadAppModule(ref: AppModuleRef): Promise<Celeriac> {
  const mod = (await import(ref.specifier)) as Record<string, unknown>;
  const candidates = ref.exportName ? [ref.exportName] : ['app', 'default', 'celeriac'];
  for (const name of candidates) {
    const value = mod[name];
    if (!isApp(value)) continue;
    if (ref.urls) value.overrideUrls(ref.urls);
    return value;
  }
  throw new CeleriacError(
    ErrorCodes.INVALID_OPTION,
    `appModule ${ref.spec}: the module has no Celeriac app ${ref.exportName ? `named "${ref.exportName}"` : 'exported as "app" or default'}`,
    {
      details: {
        option: 'appModule',
        value: ref.spec,
        expected: 'a module exporting a Celeriac app',
      },
    },
  );
}
