import { Celeriac } from '@celeriac/client';
import type { Logger } from '@celeriac/core';
import { createLogger, LOG_LEVELS, type LogLevel } from './create-logger.js';
import { loadApp } from './load-app.js';
import { str, type Parsed } from './parse.js';
import { UsageError } from './usage-error.js';

/** Where a command writes; tests pass their own streams. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export function logLevelOf(p: Parsed): LogLevel {
  const level = str(p, 'loglevel') ?? process.env['CELERIAC_LOG_LEVEL'] ?? 'info';
  const lower = level.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(lower)) {
    throw new UsageError(`--loglevel must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  }
  return lower as LogLevel;
}

/** The app from `--app`, else one built from `--broker` / `--backend` / the environment. */
export async function appFrom(p: Parsed, logger: Logger): Promise<{ app: Celeriac; loaded: boolean }> {
  const spec = str(p, 'app');
  if (spec) return { app: await loadApp(spec), loaded: true };
  const broker = str(p, 'broker') ?? process.env['CELERIAC_BROKER_URL'];
  if (!broker) {
    throw new UsageError('no broker: pass --app <module>, --broker <url>, or set CELERIAC_BROKER_URL');
  }
  const backend = str(p, 'backend') ?? process.env['CELERIAC_RESULT_BACKEND'];
  return { app: new Celeriac({ broker, ...(backend ? { backend } : {}), logger }), loaded: false };
}

export { createLogger };
