// `npm run test:quickstart`: the README Quickstart (TypeScript, through tsx) and
// docs/getting-started.md (plain JavaScript) run as printed, by a new user, outside this
// repository: every package is packed with `npm pack`, the tarballs are installed into a
// fresh folder under os.tmpdir(), the files and commands are taken from the Markdown itself
// (blocks marked `<!-- quickstart:file NAME -->` and `<!-- quickstart:commands -->`), so the
// docs and this test cannot drift. Exits 1 when anything differs from what the docs promise.
//
// What differs from a user's shell, and why:
// - `npm install celeriac` installs the tarballs instead (celeriac is not on the registry yet);
//   every other package comes from the npm cache or the registry (--prefer-offline).
// - better-sqlite3 compiles from source here (no network for its prebuilt binary), which
//   takes minutes; the repository's own build of the same version is offered to its
//   installer as a local prebuild, so the install script still runs, just without compiling.
// - `--redis` runs the same commands on a throwaway redis-server (CELERIAC_BROKER_URL, plus
//   `npm install ioredis`), as docs/getting-started.md's Redis part does;
//   CELERIAC_QUICKSTART_BROKER=redis://… names a Redis to use instead.
import { execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packWorkspaces, ROOT } from './pack-workspaces.js';

const STEP_TIMEOUT_MS = 60_000;
// The setup's npm install may compile better-sqlite3 when the local prebuild does not fit.
const SETUP_TIMEOUT_MS = 10 * 60_000;
const keep = process.env.CELERIAC_QUICKSTART_KEEP === '1';

/** The marked blocks of a Markdown file: files to write, the setup and the commands. */
function extract(markdownPath) {
  const text = readFileSync(markdownPath, 'utf8');
  const files = [];
  let commands;
  let setup;
  const re = /<!-- quickstart:(file ([^\s]+)|commands|setup) -->\s*\n```[a-z]*\n([\s\S]*?)\n```/g;
  for (const m of text.matchAll(re)) {
    if (m[2]) files.push({ name: m[2], content: `${m[3]}\n` });
    else if (m[1] === 'commands') commands = m[3];
    else setup = m[3];
  }
  // The setup is the first sh block after the Quickstart heading unless one is marked.
  setup ??= /## Quickstart[\s\S]*?```sh\n([\s\S]*?)\n```/.exec(text)?.[1];
  if (!setup || !commands || files.length === 0)
    throw new Error(`${markdownPath}: no quickstart blocks (setup, files, commands) found`);
  const lines = (block) =>
    block
      .split('\n')
      .map((l) => ({
        command: l.replace(/\s+#.*$/, '').trim(),
        comment: /\s#\s*(.*)$/.exec(l)?.[1] ?? '',
      }))
      .filter((l) => l.command && !l.command.startsWith('#'));
  return { files, setup: lines(setup), commands: lines(commands) };
}

function sh(command, cwd, env, timeoutMs = STEP_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`"${command}" did not finish within ${timeoutMs / 1000} s\n${stdout}${stderr}`),
      );
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A long-running command (worker, beat): its log, and a way to wait for a line in it. */
function background(command, cwd, env) {
  // bash runs a single command in place (no child shell), so the signal reaches celeriac
  // itself, as from a terminal or a supervisor; a lost signal shows as a non-zero exit.
  const child = spawn('bash', ['-c', command], { cwd, env });
  let log = '';
  const waiters = new Set();
  const onData = (d) => {
    log += d;
    for (const w of waiters) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    exited,
    log: () => log,
    /** Resolves once `test(log)` holds; rejects if the process exits first or on timeout. */
    until(what, test, timeoutMs = STEP_TIMEOUT_MS) {
      return new Promise((resolve, reject) => {
        const done = (err) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) reject(err);
          else resolve();
        };
        const check = () => {
          if (test(log)) done();
        };
        const timer = setTimeout(
          () =>
            done(
              new Error(`"${command}" never showed ${what} within ${timeoutMs / 1000} s:\n${log}`),
            ),
          timeoutMs,
        );
        waiters.add(check);
        void exited.then(({ code, signal }) =>
          done(
            new Error(`"${command}" exited (${code ?? signal}) before it showed ${what}:\n${log}`),
          ),
        );
        check();
      });
    },
  };
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

const succeededAdds = (log) => (log.match(/Task tasks\.add\[[^\]]+\] succeeded/g) ?? []).length;

/** Offers the repository's compiled better-sqlite3 to the app's install as a local prebuild. */
function localPrebuilds(dir) {
  const pkgDir = join(ROOT, 'node_modules', 'better-sqlite3');
  const binary = join(pkgDir, 'build', 'Release', 'better_sqlite3.node');
  if (!existsSync(binary)) return {};
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  const stage = join(dir, 'stage');
  mkdirSync(join(stage, 'build', 'Release'), { recursive: true });
  copyFileSync(binary, join(stage, 'build', 'Release', 'better_sqlite3.node'));
  const prebuilds = join(dir, 'prebuilds');
  mkdirSync(prebuilds, { recursive: true });
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  execFileSync('tar', ['-czf', join(prebuilds, name), '-C', stage, 'build']);
  return { npm_config_better_sqlite3_local_prebuilds: prebuilds };
}

async function runQuickstart({ label, markdown, work, tarballs, baseEnv }) {
  const { files, setup, commands } = extract(join(ROOT, markdown));
  const base = join(work, label);
  mkdirSync(base, { recursive: true });
  console.log(`\n# ${label}: ${markdown} in ${base}`);

  // The setup block runs as one shell script (a `cd` in it holds for what follows). The only
  // change: the celeriac tarballs instead of the registry's `celeriac`.
  const script = setup.map(({ command }) =>
    /^npm install /.test(command)
      ? `${command.replace(/(^npm install |\s)celeriac(?=\s|$)/, `$1${tarballs.join(' ')}`)} --prefer-offline --no-audit --no-fund`
      : command,
  );
  for (const { command } of setup) console.log(`$ ${command}`);
  const started = Date.now();
  const r = await sh(
    ['set -euo pipefail', ...script, 'echo "quickstart-cwd:$PWD"'].join('\n'),
    base,
    baseEnv,
    SETUP_TIMEOUT_MS,
  );
  assert(r.code === 0, `the setup failed (${r.code ?? r.signal}):\n${r.stdout}${r.stderr}`);
  const app = /quickstart-cwd:(.*)$/m.exec(r.stdout)?.[1] ?? base;
  console.log(`  (setup: ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  const env = { ...baseEnv, PATH: `${join(app, 'node_modules', '.bin')}:${baseEnv.PATH}` };

  if (/^rediss?:/.test(env.CELERIAC_BROKER_URL ?? '')) {
    // docs/getting-started.md's Redis part: the driver is the app's own dependency.
    const r = await sh('npm install ioredis --prefer-offline --no-audit --no-fund', app, env);
    assert(r.code === 0, `npm install ioredis failed:\n${r.stdout}${r.stderr}`);
  }
  for (const f of files) writeFileSync(join(app, f.name), f.content);
  const tsFiles = files.map((f) => f.name).filter((n) => n.endsWith('.ts'));
  if (tsFiles.length > 0) {
    // tsx runs TypeScript without checking it: check the snippets against the installed
    // packages' types too (strict, Node's ESM resolution; @types/node from the repository).
    // skipLibCheck, as `tsc --init` sets it: the driver option types of @celeriac/broker and
    // result-backend name ioredis's types, which an app without ioredis does not have.
    const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
    const flags =
      '--noEmit --skipLibCheck --strict --exactOptionalPropertyTypes --module nodenext --moduleResolution nodenext --target es2022';
    const r = await sh(
      `${tsc} ${flags} --typeRoots ${join(ROOT, 'node_modules', '@types')} --types node ${tsFiles.join(' ')}`,
      app,
      env,
    );
    assert(
      r.code === 0,
      `the TypeScript snippets do not type-check against the installed packages:\n${r.stdout}${r.stderr}`,
    );
    console.log(`  (tsc: ${tsFiles.join(', ')} type-check)`);
  }

  const running = [];
  try {
    let worker;
    for (const { command, comment } of commands) {
      console.log(`$ ${command}`);
      if (/\bceleriac worker\b/.test(command)) {
        worker = background(command, app, env);
        running.push(worker);
        await worker.until('"ready"', (log) => / ready\b/.test(log));
      } else if (/\bceleriac beat\b/.test(command)) {
        assert(worker, 'the commands start beat before a worker');
        const before = succeededAdds(worker.log());
        const beat = background(command, app, env);
        running.push(beat);
        await beat.until('a task sent', (log) => /beat: sending due task/.test(log));
        await worker.until('a beat-sent tasks.add run', (log) => succeededAdds(log) > before);
        beat.child.kill('SIGTERM');
        const { code } = await beat.exited;
        assert(code === 0, `beat exited ${code} on SIGTERM, not 0:\n${beat.log()}`);
      } else {
        const r = await sh(command, app, env);
        assert(
          r.code === 0,
          `"${command}" exited ${r.code ?? r.signal}, not 0:\n${r.stdout}${r.stderr}`,
        );
        const printed = /^prints (.+)$/.exec(comment)?.[1];
        if (printed !== undefined)
          assert(
            r.stdout.trim() === printed,
            `"${command}" printed ${JSON.stringify(r.stdout.trim())}, the docs say ${printed}\n${r.stderr}`,
          );
      }
    }
    assert(worker, 'the commands start no worker');
    worker.child.kill('SIGTERM');
    const { code } = await worker.exited;
    assert(code === 0, `the worker exited ${code} on SIGTERM, not 0:\n${worker.log()}`);
    assert(
      /worker stopped/.test(worker.log()),
      `the worker did not log a warm stop:\n${worker.log()}`,
    );
    console.log(
      `ok ${label}: worker ready, client and call printed what the docs say, beat ran a task, SIGTERM exit 0`,
    );
  } finally {
    for (const p of running)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  }
}

const work = mkdtempSync(join(tmpdir(), 'celeriac-quickstart-'));
let failed = false;
let redis;
try {
  const started = Date.now();
  const tarballDir = join(work, 'tarballs');
  mkdirSync(tarballDir);
  const tarballs = packWorkspaces(tarballDir).map((p) => p.tarball);
  console.log(
    `packed ${tarballs.length} packages in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  const baseEnv = { ...process.env, ...localPrebuilds(work) };
  delete baseEnv.NODE_OPTIONS;
  delete baseEnv.CELERIAC_BROKER_URL;
  delete baseEnv.CELERIAC_RESULT_BACKEND;
  if (process.env.CELERIAC_QUICKSTART_BROKER) {
    baseEnv.CELERIAC_BROKER_URL = process.env.CELERIAC_QUICKSTART_BROKER;
  } else if (process.argv.includes('--redis')) {
    const { startRedisServer } = await import('@celeriac/testing');
    redis = await startRedisServer();
    baseEnv.CELERIAC_BROKER_URL = redis.url;
  }
  console.log(
    `broker: ${baseEnv.CELERIAC_BROKER_URL ?? 'none configured (the default, sqlite://./celeriac.db)'}`,
  );
  for (const q of [
    { label: 'typescript', markdown: 'README.md' },
    { label: 'javascript', markdown: 'docs/getting-started.md' },
  ]) {
    await runQuickstart({ ...q, work, tarballs, baseEnv });
  }
  console.log(`\nquickstart: passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (err) {
  failed = true;
  console.error(`\nquickstart: FAILED: ${err.stack ?? err}`);
} finally {
  await redis?.stop();
  if (keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
