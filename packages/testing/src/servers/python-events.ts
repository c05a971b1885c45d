import { spawn } from 'node:child_process';
import { PYTHON, PYTHON_DIR, envFor, type PythonEnv } from './python-celery.js';

/** A Celery event as Python's Receiver handed it over. */
export type PythonSeenEvent = Record<string, unknown> & { type: string };

/** A running `interop_events.py`: Python Celery's own event Receiver. */
export interface PythonEventCapture {
  /** Every event seen so far, in order. */
  readonly events: readonly PythonSeenEvent[];
  /** Resolves with the first event (from now or before) that matches, or rejects after `timeoutMs`. */
  waitFor(match: (e: PythonSeenEvent) => boolean, timeoutMs?: number): Promise<PythonSeenEvent>;
  stop(): Promise<void>;
}

/**
 * Starts Python Celery's `app.events.Receiver` on the broker and resolves once it listens
 * (its own readiness line, never a sleep).
 */
export async function capturePythonEvents(
  env: PythonEnv,
  timeoutMs = 30_000,
): Promise<PythonEventCapture> {
  const child = spawn(PYTHON, [`${PYTHON_DIR}interop_events.py`], {
    env: envFor(env),
    cwd: PYTHON_DIR,
  });
  const events: PythonSeenEvent[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let buffered = '';
  let exited = false;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      const parsed = JSON.parse(line) as { ready?: boolean; event?: PythonSeenEvent };
      if (parsed.ready) markReady();
      if (parsed.event) events.push(parsed.event);
    }
    for (const w of waiters) w();
  });
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      for (const w of waiters) w();
      resolve();
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      exit.then(() => {
        throw new Error(`interop_events.py exited before it was ready: ${stderr}`);
      }),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`interop_events.py not ready in ${timeoutMs} ms: ${stderr}`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    events,
    waitFor(match, waitMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = events.find(match);
          if (found) {
            done();
            resolve(found);
          } else if (exited) {
            done();
            reject(new Error(`interop_events.py exited: ${stderr}`));
          }
        };
        const t = setTimeout(() => {
          done();
          reject(
            new Error(
              `no matching event in ${waitMs} ms; seen: ${events.map((e) => e.type).join(', ')}`,
            ),
          );
        }, waitMs);
        const done = (): void => {
          clearTimeout(t);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (!exited) child.kill('SIGTERM');
      await exit;
    },
  };
}
