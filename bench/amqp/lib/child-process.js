// A bench child process (a worker or a publisher/client, Node or Python) driven over file
// descriptor 3: a socket pair opened by spawn, one JSON object a line both ways. Node and Python
// children speak the same protocol this way, so the bench treats Celeriac's and Celery's alike.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Mailbox } from '../../lib/mailbox.js';

export class BenchChild {
  #mail = new Mailbox(() => `${this.name} (pid ${this.pid})`);
  /** @type {import('node:child_process').ChildProcess} */
  #child;
  /** @type {Promise<{ code: number | null, signal: string | null }>} */
  #exited;
  #log = '';
  /** @type {string} */
  name;

  /**
   * Spawns `command args` and waits for `{ type: 'ready' }`.
   * @param {string} name for messages
   * @param {string} command
   * @param {string[]} args
   * @param {{ env?: NodeJS.ProcessEnv, cwd?: string, timeoutMs?: number, echo?: boolean }} [o]
   */
  static async start(name, command, args, o = {}) {
    const c = new BenchChild(name, command, args, o);
    try {
      c.readyMessage = await c.next('ready', o.timeoutMs ?? 60_000);
    } catch (err) {
      await c.kill();
      throw err;
    }
    return c;
  }

  constructor(name, command, args, o) {
    this.name = name;
    this.#child = spawn(command, args, {
      env: o.env ?? process.env,
      cwd: o.cwd,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      // Its own process group, so kill() also ends the children of a prefork Celery worker.
      detached: true,
    });
    this.pid = this.#child.pid;
    const keep = (d) => {
      this.#log = (this.#log + d.toString()).slice(-20_000);
      if (o.echo) process.stderr.write(d);
    };
    this.#child.stdout.on('data', keep);
    this.#child.stderr.on('data', keep);
    const control = this.#child.stdio[3];
    createInterface({ input: control }).on('line', (line) => {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      this.#mail.deliver(msg);
    });
    control.on('error', () => undefined);
    this.#exited = new Promise((resolve) =>
      this.#child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    this.#child.once('exit', (code, signal) =>
      this.#mail.fail(
        new Error(
          `${this.name} (pid ${this.pid}) exited (code ${code}, signal ${signal}); its output ended:\n${this.#log.slice(-3000)}`,
        ),
      ),
    );
    this.#child.on('error', (err) => this.#mail.fail(err));
  }

  /** What the process wrote on stdout and stderr (the last 20 kB). */
  get output() {
    return this.#log;
  }

  get running() {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The next message of `type` (already received, or to come within `timeoutMs`). */
  next(type, timeoutMs) {
    return this.#mail.next(type, timeoutMs);
  }

  send(msg) {
    if (this.#mail.failure) throw this.#mail.failure;
    this.#child.stdio[3].write(`${JSON.stringify(msg)}\n`);
  }

  /** Sends `msg` and waits for the reply of `type`. */
  request(msg, type, timeoutMs) {
    const reply = this.#mail.next(type, timeoutMs);
    reply.catch(() => undefined);
    this.send(msg);
    return reply;
  }

  /**
   * Stops the process: sends `msg` (a Node child exits after answering it) or `signal`, and
   * kills it if it has not exited within `timeoutMs`.
   * @param {{ msg?: object, signal?: NodeJS.Signals, timeoutMs?: number }} o
   */
  async stop({ msg, signal, timeoutMs = 15_000 } = {}) {
    if (this.running) {
      try {
        if (msg) this.send(msg); // throws if the process already failed
        if (signal) this.#child.kill(signal);
      } catch {
        this.#killGroup(); // it failed: no clean stop to wait for
      }
    }
    const timer = setTimeout(() => this.#killGroup(), timeoutMs);
    await this.#exited;
    clearTimeout(timer);
    this.#killGroup(); // whatever it left behind (prefork pool children)
  }

  async kill() {
    this.#killGroup();
    await this.#exited;
  }

  #killGroup() {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // the group is gone
    }
  }
}
