import { Celeriac } from '@celeriac/client';
import type { Logger } from '@celeriac/core';
import { createLogger, LOG_LEVELS, type LogLevel } from './create-logger.js';
import { loadApp } from './load-app.js';
import { listOption, str, type Parsed } from './parse.js';
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

/**
 * The broker the CLI uses when none is configured (no `--broker`, no `CELERIAC_BROKER_URL`,
 * and an `--app` module whose app names none): one SQLite file in the working directory,
 * which holds the results too, so a worker, `celeriac call` and beat started in one folder
 * reach each other with no server installed.
 */
export const DEFAULT_BROKER_URL: string | undefined = 'sqlite://./celeriac.db';

function isInProcess(url: string | undefined): boolean {
  return url !== undefined && /^memory:/i.test(url);
}

/**
 * The app from `--app`, else one built from `--broker` / `--backend` / the environment.
 * `--broker` and `--backend` override the app module's own URLs when given.
 */
export async function appFrom(
  p: Parsed,
  logger: Logger,
): Promise<{ app: Celeriac; loaded: boolean }> {
  const spec = str(p, 'app');
  const brokerFlag = str(p, 'broker');
  const backendFlag = str(p, 'backend');
  if (
    brokerFlag === undefined &&
    !process.env['CELERIAC_BROKER_URL'] &&
    DEFAULT_BROKER_URL !== undefined
  ) {
    // Through the environment, so an app module that names no broker of its own (its
    // default is CELERIAC_BROKER_URL) and the pool's threads and children all get it too.
    process.env['CELERIAC_BROKER_URL'] = DEFAULT_BROKER_URL;
  }
  if (spec) {
    const app = await loadApp(spec);
    if (brokerFlag !== undefined || backendFlag !== undefined)
      app.overrideUrls({ broker: brokerFlag, backend: backendFlag });
    return { app, loaded: true };
  }
  const broker = brokerFlag ?? process.env['CELERIAC_BROKER_URL'];
  if (!broker) {
    throw new UsageError(
      'no broker: pass --app <module>, --broker <url>, or set CELERIAC_BROKER_URL',
    );
  }
  const backend = backendFlag ?? process.env['CELERIAC_RESULT_BACKEND'];
  return { app: new Celeriac({ broker, ...(backend ? { backend } : {}), logger }), loaded: false };
}

/**
 * Fails a one-shot command whose broker (or result backend) is memory://: it lives in this
 * process, so no worker elsewhere can take the task or store its result, and `--wait`
 * would never end.
 */
export function requireSharedTransport(
  app: Celeriac,
  uses: { broker: boolean; results: boolean },
): void {
  const { brokerUrl, backendUrl } = app.options;
  let url: string | undefined;
  if (uses.broker && isInProcess(brokerUrl)) url = brokerUrl;
  else if (uses.results && typeof backendUrl === 'string' && isInProcess(backendUrl))
    url = backendUrl;
  if (url === undefined) return;
  const what = uses.results
    ? 'run the task or store its result, and waiting would never end'
    : 'take the task';
  throw new Error(
    `${uses.broker && isInProcess(brokerUrl) ? 'the broker' : 'the result backend'} is ${url}, which lives inside one process, so no worker in another process can ${what}. ` +
      'Use the broker your workers use: --broker redis://localhost:6379 (or set CELERIAC_BROKER_URL, or name it in the app module)',
  );
}

/**
 * Runs `work` with a timer holding the process open. A command that waits (a worker for its
 * signal, `--wait` for a result) may wait on nothing but a driver's unref'd timers or file
 * watchers; Node would then end the process with code 13 in the middle of the wait.
 */
export async function keepingAlive<T>(work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => undefined, 2 ** 30);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** True when the app's broker is memory://, which nothing outside this process reaches. */
export function onInProcessBroker(app: Celeriac): boolean {
  return isInProcess(app.options.brokerUrl);
}

/**
 * The logger and app of a long-running command (`worker`, `beat`), with `inProcess` logged
 * as a warning when the broker is memory://, which nothing outside this process reaches.
 */
export async function serviceApp(
  p: Parsed,
  inProcess: string,
): Promise<{ app: Celeriac; loaded: boolean; logger: ReturnType<typeof createLogger> }> {
  const logger = createLogger(logLevelOf(p));
  const { app, loaded } = await appFrom(p, logger);
  if (onInProcessBroker(app)) logger.warn({ broker: app.options.brokerUrl }, inProcess);
  return { app, loaded, logger };
}

/**
 * Runs a one-shot command (`call`, `result`, `purge`, `dlq`, `inspect`) on the app the flags
 * name, then closes it. Such a command prints its own one-line errors, so it logs only when
 * asked with `--loglevel`.
 */
export async function withOneShotApp<T>(
  p: Parsed,
  work: (app: Celeriac) => Promise<T>,
): Promise<T> {
  const logger = createLogger(str(p, 'loglevel') === undefined ? 'fatal' : logLevelOf(p));
  const { app } = await appFrom(p, logger);
  try {
    return await work(app);
  } finally {
    await app.close();
  }
}

/** The queues `-Q a,b` names, else the app's default queue. */
export function queuesOf(p: Parsed, app: Celeriac): string[] {
  return listOption(str(p, 'queues')) ?? [app.options.defaultQueue];
}

/** How a long-running command (`worker`, `beat`) starts, stops and cleans up. */
export interface ServeOptions {
  /** The command's logger, flushed at the end. */
  readonly logger: ReturnType<typeof createLogger>;
  /** Starts the service; the command then waits for a signal. */
  readonly start: () => Promise<void>;
  /** Called on each SIGTERM or SIGINT; calls `stop` when the command may end. */
  readonly onSignal: (signal: NodeJS.Signals, stop: () => void) => void;
  /** Ends the command as a signal would, without one (tests). */
  readonly abort?: AbortSignal | undefined;
  /** Closes what `start` started; runs however the command ends. */
  readonly close: () => Promise<void>;
}

/**
 * Runs a long-running command until a signal stops it: starts it, holds the process open (a
 * worker or beat on memory:// waits on nothing else, and Node would end it with code 13 right
 * after "ready"), then closes it and flushes the logs.
 */
export async function serveUntilSignal(o: ServeOptions): Promise<void> {
  let stop!: () => void;
  const done = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = (signal: NodeJS.Signals): void => o.onSignal(signal, stop);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (o.abort?.aborted) stop();
  o.abort?.addEventListener('abort', () => stop(), { once: true });
  try {
    await keepingAlive(async () => {
      await o.start();
      await done;
    });
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await o.close();
    await new Promise<void>((resolve) => o.logger.flush(() => resolve()));
  }
}

export { createLogger };
