// The summary .ci/run prints after the test step. Usage:
//   node .ci/test-summary.mjs <log> <plan.json>
// <log> is what `npm test -- --continue=dependencies-successful --summarize` printed; <plan.json> is
// `npm test --silent -- --dry=json`. Prints the line CI parses (the sum of every package's Vitest
// totals) in exactly this form:
//   tests: N passed, N failed
// then which packages' test tasks failed and which never ran (turbo skips a task whose
// dependency failed, and its run summary lists only the tasks that ran, so those are found as
// planned but absent). Exits 1 if any task failed or did not run, or if the run left no summary.
import { readFileSync } from 'node:fs';

const [logFile, planFile] = process.argv.slice(2);
if (logFile === undefined || planFile === undefined) {
  console.error('usage: node .ci/test-summary.mjs <log> <plan.json>');
  process.exit(2);
}

// eslint-disable-next-line no-control-regex -- the ANSI colour codes are what is being removed
const ANSI_COLOUR = /\x1b\[[0-9;]*m/g;
const lines = readFileSync(logFile, 'utf8').replace(ANSI_COLOUR, '').split('\n');

let passed = 0;
let failed = 0;
for (const line of lines) {
  if (!/^\S+:test: +Tests /.test(line)) continue;
  passed += Number(/(\d+) passed/.exec(line)?.[1] ?? 0);
  failed += Number(/(\d+) failed/.exec(line)?.[1] ?? 0);
}
console.log(`tests: ${passed} passed, ${failed} failed`);

/** @type {{ tasks: { taskId: string, task: string, package: string }[] }} */
const plan = JSON.parse(readFileSync(planFile, 'utf8'));

// turbo prints `Summary:    /abs/path/.turbo/runs/<id>.json` near the end of a --summarize run.
const summaryPath = lines
  .map((l) => /^\s*Summary:\s+(\S+\.json)\s*$/.exec(l)?.[1])
  .filter((p) => p !== undefined)
  .pop();

/** taskId -> exit code, for every task that ran (cache hits count as exit code 0). */
const ran = new Map();
if (summaryPath === undefined) {
  console.log('turbo wrote no run summary (did it start?); see the log above');
} else {
  /** @type {{ tasks: { taskId: string, execution?: { exitCode?: number }, cache?: { status?: string } }[] }} */
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
  for (const t of summary.tasks) {
    const code = t.execution?.exitCode ?? (t.cache?.status === 'HIT' ? 0 : undefined);
    if (code !== undefined) ran.set(t.taskId, code);
  }
}

const testsFailed = [];
const testsNotRun = [];
const otherFailed = [];
for (const t of [...plan.tasks].sort((a, b) => a.taskId.localeCompare(b.taskId))) {
  const code = ran.get(t.taskId);
  if (t.task === 'test') {
    if (code === undefined) testsNotRun.push(t.package);
    else if (code !== 0) testsFailed.push(t.package);
  } else if (code !== undefined && code !== 0) {
    otherFailed.push(t.taskId);
  }
}

const list = (xs) => (xs.length > 0 ? xs.join(', ') : 'none');
console.log(`test tasks failed: ${list(testsFailed)}`);
console.log(
  `test tasks not run: ${list(testsNotRun)}${testsNotRun.length > 0 ? ' (a task they depend on failed, or the run stopped)' : ''}`,
);
if (otherFailed.length > 0) console.log(`other tasks failed: ${otherFailed.join(', ')}`);

const bad =
  summaryPath === undefined || testsFailed.length + testsNotRun.length + otherFailed.length > 0;
process.exit(bad ? 1 : 0);
