import { spawn, type ChildProcess } from 'node:child_process';
import { killOnExit } from './exit-hook.js';

/**
 * One `redis-server` (or `redis-server --sentinel`) process of a test group, restartable on
 * the same port and arguments. A test process that ends without stopping it (a crash, a
 * timeout) leaves nothing running.
 */
export class RedisProcess {
  #child: ChildProcess | undefined;
  #forget: (() => void) | undefined;

  constructor(
    readonly port: number,
    private readonly args: readonly string[],
  ) {}

  /** True while its process runs. */
  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null;
  }

  start(): void {
    const child = spawn('redis-server', this.args, { stdio: 'ignore' });
    child.unref();
    this.#child = child;
    this.#forget?.();
    this.#forget = killOnExit(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
  }

  /** SIGKILL, and resolves once the process has exited. */
  async kill(): Promise<void> {
    const c = this.#child;
    this.#child = undefined;
    this.#forget?.();
    this.#forget = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.ref();
      c.kill('SIGKILL');
    });
  }
}
