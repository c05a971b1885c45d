import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';
import { CeleriacError, ErrorCodes } from '@celeriac/core';
import type { AppModuleRef } from './app-module.js';
import type { ChildMessage, ParentMessage } from './protocol.js';

/** How a thread or child ended. `signal` is set when a child process was killed by one. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: string | null;
  /** An uncaught error that ended a thread, if any. */
  readonly error: Error | undefined;
}

/**
 * One pool member, a thread or a child process, as the pool sees it: send a message, hear
 * its messages and its end, kill it. One implementation per technology.
 */
export interface PoolChild {
  /** `pid` for a child process, `threadId` for a thread: what logs name it by. */
  readonly id: number;
  /**
   * Sends a message; a member that already died drops it (its exit is reported anyway).
   * Throws when the message cannot be cloned.
   */
  send(message: ParentMessage): void;
  /** Stops it now, whatever it is doing (`worker.terminate()`, SIGKILL). */
  kill(): void;
  onMessage(listener: (message: ChildMessage) => void): void;
  /** Called once, when it has ended for whatever reason. */
  onExit(listener: (exit: ChildExit) => void): void;
}

/**
 * The entry script threads and children run. From the built package it sits beside this
 * file; when the worker itself runs from TypeScript sources (the package's own tests), the
 * entry still has to be JavaScript that Node can load, so the built one is used.
 */
function entryPath(): string {
  const here = import.meta.url;
  const url = here.endsWith('.ts')
    ? new URL('../../dist/pools/pool-entry.js', here)
    : new URL('./pool-entry.js', here);
  const path = fileURLToPath(url);
  if (!existsSync(path)) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `the pool entry ${path} is missing: build @celeriac/worker first (npm run build)`,
    );
  }
  return path;
}

/** A `worker_threads` thread. */
export class ThreadChild implements PoolChild {
  readonly #thread: Thread;
  readonly id: number;
  #error: Error | undefined;

  constructor(app: AppModuleRef) {
    this.#thread = new Thread(entryPath(), { workerData: app });
    this.id = this.#thread.threadId;
    // An uncaught error ends the thread; 'exit' follows, and reports it.
    this.#thread.on('error', (err) => (this.#error = err));
  }

  send(message: ParentMessage): void {
    this.#thread.postMessage(message); // a no-op once the thread ended
  }

  kill(): void {
    void this.#thread.terminate();
  }

  onMessage(listener: (message: ChildMessage) => void): void {
    this.#thread.on('message', listener);
  }

  onExit(listener: (exit: ChildExit) => void): void {
    this.#thread.once('exit', (code) => listener({ code, signal: null, error: this.#error }));
  }
}

/** A child process started with `fork`, speaking structured clone over IPC. */
export class ProcessChild implements PoolChild {
  readonly #child: ChildProcess;
  readonly id: number;

  constructor(app: AppModuleRef) {
    this.#child = fork(entryPath(), [JSON.stringify(app)], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.id = this.#child.pid ?? -1;
    // 'error' is emitted when a kill or send fails; the exit (if any) is reported by 'exit'.
    this.#child.on('error', () => undefined);
  }

  send(message: ParentMessage): void {
    if (!this.#child.connected) return;
    // A write that fails later means the child is gone; its exit is reported.
    this.#child.send(message, () => undefined);
  }

  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null)
      this.#child.kill('SIGKILL');
  }

  onMessage(listener: (message: ChildMessage) => void): void {
    this.#child.on('message', (m) => listener(m as ChildMessage));
  }

  onExit(listener: (exit: ChildExit) => void): void {
    this.#child.once('exit', (code, signal) => listener({ code, signal, error: undefined }));
  }
}

/** How a member ended, for a log line: `signal SIGKILL` or `exit code 1`. */
export function describeExit(exit: ChildExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${String(exit.code)}`;
}
