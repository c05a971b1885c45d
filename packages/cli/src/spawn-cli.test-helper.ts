import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../bin/celeriac.js', import.meta.url));
export const FIXTURE_APP = fileURLToPath(new URL('../test-fixtures/app.js', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `celeriac` command to completion. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 60_000,
  cwd?: string,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      ...(cwd === undefined ? {} : { cwd }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`celeriac ${args.join(' ')} timed out\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface WorkerProcess {
  readonly child: ChildProcess;
  log(): string;
  /**
   * Resolves once the worker's output contains `text` (already there counts; with `from`,
   * only in the output after that offset, a `log().length` taken earlier), rejects with the
   * log so far after `timeoutMs` or if the worker exits first. How a test waits for the worker
   * to have done something, instead of a fixed sleep.
   */
  waitForLog(text: string, timeoutMs?: number, from?: number): Promise<void>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

export const SQLITE_FIXTURE_APP = fileURLToPath(
  new URL('../test-fixtures/sqlite-app.js', import.meta.url),
);

/** Starts `celeriac worker` (on the fixture app `app`) and resolves once it logged that it is ready. */
export function startWorkerProcess(
  args: string[],
  env: NodeJS.ProcessEnv,
  app: string = FIXTURE_APP,
  cwd?: string,
): Promise<WorkerProcess> {
  return startCliProcess(['worker', '--app', app, ...args], env, cwd);
}

/**
 * Starts a long-running `celeriac` command (`worker`, `beat`) and resolves once it logged that
 * it is ready.
 */
export async function startCliProcess(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<WorkerProcess> {
  const what = args[0] ?? 'celeriac';
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    ...(cwd === undefined ? {} : { cwd }),
  });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${log}`)), 30_000);
    const check = (): void => {
      if (log.includes(' ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${String(code)} before it was ready:\n${log}`));
    });
  });
  const waitForLog = (text: string, timeoutMs = 15_000, from = 0): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (log.slice(from).includes(text)) return resolve();
      const done = (err?: Error): void => {
        clearTimeout(timer);
        child.stdout.off('data', check);
        child.stderr.off('data', check);
        child.off('exit', onExit);
        if (err) reject(err);
        else resolve();
      };
      const check = (): void => {
        if (log.slice(from).includes(text)) done();
      };
      const onExit = (code: number | null): void =>
        done(
          new Error(
            `${what} exited with ${String(code)} before it logged ${JSON.stringify(text)}:\n${log}`,
          ),
        );
      const timer = setTimeout(
        () =>
          done(
            new Error(
              `${what} did not log ${JSON.stringify(text)} within ${timeoutMs} ms:\n${log}`,
            ),
          ),
        timeoutMs,
      );
      // After the helper's own listeners, so `log` already holds the chunk when check runs.
      child.stdout.on('data', check);
      child.stderr.on('data', check);
      child.once('exit', onExit);
    });
  return { child, log: () => log, waitForLog, exited };
}
