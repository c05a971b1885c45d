/**
 * The CLI on memory:// (no server): it says plainly that nothing outside the process reaches
 * it, instead of exiting 13 silently (the worker) or waiting forever (call --wait).
 */
import { describe, expect, it } from 'vitest';
import { runCli, startWorkerProcess } from './spawn-cli.test-helper.js';

const env = { CELERIAC_BROKER_URL: 'memory://' };

describe('celeriac on memory://', () => {
  it('a worker warns that nothing outside it can reach it, stays up, and exits 0 on SIGTERM', async () => {
    const worker = await startWorkerProcess([], env);
    expect(worker.log()).toMatch(/this worker is on memory:\/\/.*nothing outside it/);
    expect(worker.child.exitCode).toBeNull(); // still running after "ready"
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(worker.log()).toMatch(/worker stopped/);
  });

  it('`call --wait` says why it cannot get a result and exits 1 instead of hanging', async () => {
    const r = await runCli(['call', 'fx.add', '--args', '[2, 3]', '--wait'], env, 30_000);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^celeriac call: the broker is memory:\/\/, which lives inside one process.*waiting would never end/,
    );
  });

  it('`result` on a memory:// backend says why instead of reporting PENDING', async () => {
    const r = await runCli(
      ['result', '00000000-0000-4000-8000-000000000000', '--wait'],
      env,
      30_000,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^celeriac result: the result backend is memory:\/\//);
  });

  it('--broker overrides the broker of the app module given with --app', async () => {
    const r = await runCli(
      ['call', 'fx.add', '--app', 'test-fixtures/app.js', '--broker', 'memory://elsewhere'],
      { CELERIAC_BROKER_URL: 'redis://127.0.0.1:1' },
      30_000,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the broker is memory:\/\/elsewhere/);
  });

  it('prints help for every command and subcommand and exits 0', async () => {
    const commands = [
      ['--help'],
      ['worker', '--help'],
      ['call', '--help'],
      ['result', '--help'],
      ['purge', '--help'],
      ['dlq', '--help'],
      ['inspect', '--help'],
      ['beat', '--help'],
    ];
    for (const sub of ['add', 'remove', 'pause', 'resume', 'list', 'next'])
      commands.push(['beat', sub, '--help']);
    for (const sub of ['list', 'replay', 'purge']) commands.push(['dlq', sub, '--help']);
    for (const cmd of commands) {
      const r = await runCli(cmd);
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout, cmd.join(' ')).toMatch(/^Usage: celeriac/);
    }
  });
});
