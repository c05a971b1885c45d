import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The Python that has Debian's python3-celery. */
export const PYTHON = process.env['CELERIAC_PYTHON'] ?? '/usr/bin/python3';

/** The folder with interop_app.py and the client scripts. */
export const PYTHON_DIR = fileURLToPath(new URL('../../python/', import.meta.url));

/**
 * Throws a one-line install hint when Python Celery is missing. Interop suites call it in
 * `beforeAll` and fail, never skip: a missing Python must not pass as a green run.
 */
export function requirePythonCelery(): void {
  const r = spawnSync(PYTHON, ['-c', 'import celery, kombu, redis, msgpack'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `Python Celery is not available at ${PYTHON}: apt-get install python3-celery python3-redis python3-msgpack ` +
        '(or set CELERIAC_PYTHON to a Python that has celery, redis and msgpack). The interop tests need it; they fail rather than skip.',
    );
  }
}

export interface PythonEnv {
  brokerUrl: string;
  backendUrl?: string;
  serializer?: 'json' | 'msgpack';
  /** The app's `result_serializer` (a Python client decodes every result with it). */
  resultSerializer?: 'json' | 'msgpack';
  /** kombu's Redis visibility timeout in seconds. */
  visibilityTimeout?: number;
  /** The app's `accept_content`. @default ['json', 'msgpack'] */
  acceptContent?: readonly ('json' | 'msgpack')[];
}

export function envFor(o: PythonEnv): NodeJS.ProcessEnv {
  return {
    ...process.env,
    BROKER_URL: o.brokerUrl,
    RESULT_BACKEND: o.backendUrl ?? o.brokerUrl,
    SERIALIZER: o.serializer ?? 'json',
    RESULT_SERIALIZER: o.resultSerializer ?? 'json',
    VISIBILITY_TIMEOUT: String(o.visibilityTimeout ?? 3600),
    ACCEPT_CONTENT: (o.acceptContent ?? ['json', 'msgpack']).join(','),
    PYTHONPATH: PYTHON_DIR,
    PYTHONDONTWRITEBYTECODE: '1',
  };
}

/** Runs one of the interop scripts and parses the JSON line it prints. */
export async function runPythonScript<T = Record<string, unknown>>(
  script: string,
  args: string[],
  env: PythonEnv,
  timeoutMs = 60_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [`${PYTHON_DIR}${script}`, ...args], {
      env: envFor(env),
      cwd: PYTHON_DIR,
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} timed out; stderr: ${err}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as T);
      } catch {
        reject(
          new Error(
            `${script} exited ${String(code)} without a JSON line; stdout: ${out} stderr: ${err}`,
          ),
        );
      }
    });
  });
}

export interface CeleryWorkerHandle {
  readonly process: ChildProcess;
  /** Everything the worker logged so far. */
  output(): string;
  /** Warm shutdown (SIGTERM) and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

/** Starts a real Celery worker on the interop app and waits until it is ready. */
export async function startCeleryWorker(
  o: PythonEnv & { queues: string[]; concurrency?: number; name?: string; extraArgs?: string[] },
): Promise<CeleryWorkerHandle> {
  const name = o.name ?? `py-${process.pid}-${Math.random().toString(36).slice(2, 8)}@localhost`;
  const child = spawn(
    PYTHON,
    [
      '-m',
      'celery',
      '-A',
      'interop_app',
      'worker',
      '-Q',
      o.queues.join(','),
      '-P',
      'threads',
      '-c',
      String(o.concurrency ?? 4),
      '-n',
      name,
      '--without-heartbeat',
      '--without-gossip',
      '--without-mingle',
      '--loglevel',
      'INFO',
      ...(o.extraArgs ?? []),
    ],
    { env: envFor(o), cwd: PYTHON_DIR },
  );
  let log = '';
  const onData = (d: Buffer): void => {
    log += d.toString();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`celery worker did not become ready:\n${log}`)),
      60_000,
    );
    const check = (): void => {
      if (/ready\./.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`celery worker exited with ${String(code)}:\n${log}`));
    });
  });
  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    process: child,
    output: () => log,
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
  };
}
