import { expect } from 'vitest';
import type { Celeriac, TaskContext } from '@celeriac/client';

/** One sample of a Prometheus text exposition. */
export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** Parses Prometheus' text format (what prom-client writes). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The sum of `name`'s samples whose labels include `where`. */
export function total(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

export async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return parseMetrics(await res.text());
}

/** The tasks of the known run: 7 succeed, 2 fail, 1 retries once then succeeds. */
export function defineKnownTasks(app: Celeriac): void {
  app.task('m.ok', (n: number) => n);
  app.task('m.fail', () => {
    throw new Error('boom');
  });
  app.task('m.flaky', function (this: TaskContext) {
    if (this.retries === 0) this.retry({ countdown: 0 });
    return 'ok';
  });
}

/**
 * Sends the known run: 7 × m.ok, 2 × m.fail, 1 × m.flaky (retried once), 1 already expired,
 * 1 for a task no worker knows (rejected). Resolves when every task with a result has one.
 */
export async function sendKnownRun(app: Celeriac): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (let i = 0; i < 7; i++) waits.push(app.sendTask('m.ok', [i]).get({ timeout: 20 }));
  for (let i = 0; i < 2; i++)
    waits.push(
      app
        .sendTask('m.fail')
        .get({ timeout: 20 })
        .catch(() => 'failed'),
    );
  waits.push(app.sendTask('m.flaky').get({ timeout: 20 }));
  waits.push(
    app
      .sendTask('m.ok', [99], {}, { expires: new Date(Date.now() - 60_000) })
      .get({ timeout: 20 })
      .catch(() => 'revoked'),
  );
  waits.push(
    app
      .sendTask('m.nobody')
      .get({ timeout: 20 })
      .catch(() => 'rejected'),
  );
  await Promise.all(waits);
}

/** What the known run counts, by counter, summed over its label sets. */
export const KNOWN_COUNTS = {
  // 7 m.ok + 1 expired m.ok + 2 m.fail + 2 m.flaky (run twice); the unknown one is not received
  celery_task_received_total: 12,
  celery_task_started_total: 11, // every received one but the expired

  celery_task_succeeded_total: 8,
  celery_task_failed_total: 2,
  celery_task_retried_total: 1,
  celery_task_revoked_total: 1,
  celery_task_rejected_total: 1,
} as const;
