import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Mailbox } from './mailbox.js';

/**
 * A bench worker running in its own process (child_process.fork), driven over IPC; see
 * bench/workers/child.js for the protocol.
 */
export class WorkerProcess {
  #mail = new Mailbox(() => `worker process ${this.pid}`);
  /** @type {import('node:child_process').ChildProcess} */
  #child;
  #exited;

  /**
   * Forks `script` with `config` and waits until it is connected and ready.
   * @param {URL} script
   * @param {Record<string, unknown>} config
   * @param {number} timeoutMs
   * @param {string[]} [execArgv] extra node flags (`--cpu-prof`)
   */
  static async spawn(script, config, timeoutMs, execArgv = []) {
    const wp = new WorkerProcess(script, config, execArgv);
    try {
      await wp.next('ready', timeoutMs);
    } catch (err) {
      await wp.kill();
      throw err;
    }
    return wp;
  }

  constructor(script, config, execArgv = []) {
    this.#child = fork(fileURLToPath(script), [], {
      execArgv: [...process.execArgv, ...execArgv],
      env: { ...process.env, BENCH_WORKER_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.pid = this.#child.pid;
    this.#exited = new Promise((resolve) =>
      this.#child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    this.#child.on('message', (msg) => this.#mail.deliver(msg));
    this.#child.once('exit', (code, signal) => {
      this.#mail.fail(
        new Error(`worker process ${this.pid} exited (code ${code}, signal ${signal})`),
      );
    });
    this.#child.on('error', (err) => this.#mail.fail(err));
  }

  /** The next message of `type` (already received, or to come within `timeoutMs`). */
  next(type, timeoutMs) {
    return this.#mail.next(type, timeoutMs);
  }

  /** Every later message of `type` goes to `fn` (the W5 progress reports). */
  on(type, fn) {
    this.#mail.on(type, fn);
  }

  send(msg) {
    if (this.#mail.failure) throw this.#mail.failure;
    this.#child.send(msg);
  }

  /** Sends `msg` and waits for the reply of `type`. */
  request(msg, type, timeoutMs) {
    const reply = this.#mail.next(type, timeoutMs);
    this.send(msg);
    return reply;
  }

  /** Asks the worker to shut down; kills it if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 10_000) {
    if (this.#child.exitCode === null && this.#child.signalCode === null && this.#child.connected) {
      try {
        await this.request({ cmd: 'stop' }, 'stopped', timeoutMs);
      } catch {
        // Killed below.
      }
    }
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), timeoutMs);
    await this.#exited;
    clearTimeout(timer);
  }

  async kill() {
    if (this.#child.exitCode === null && this.#child.signalCode === null)
      this.#child.kill('SIGKILL');
    await this.#exited;
  }
}
