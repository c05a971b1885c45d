import { ErrorCodes, isCeleriacError, type Logger } from '@celeriac/core';
import type { BeatApp } from './beat.js';
import { instanceLimits, runTaskId, type EntryDefinition, type EntryState } from './entry.js';
import type { BeatEvents, BeatRunInfo, RunOutcome } from './events.js';

/** Finished task ids remembered, so a finished run is never asked about again. */
const FINISHED_KEPT = 20_000;
/** Submitted runs watched at most for `executed` / `error` (the oldest are dropped first). */
const WATCHED_KEPT = 10_000;
/** Task ids per `runOutcomes` call. */
const OUTCOMES_BATCH = 1000;

/** What {@link RunTracker.limit} decided for one entry. */
export interface Limited {
  /** The runs that may be enqueued. */
  readonly dispatch: readonly number[];
  /** The runs skipped because `maxInstances` runs are outstanding. */
  readonly skipped: readonly number[];
  /** Runs outstanding before this dispatch. */
  readonly running: number;
  readonly maxInstances: number;
}

export interface RunTrackerOptions {
  readonly app: BeatApp;
  readonly events: BeatEvents;
  readonly logger: Logger;
  readonly namespace: string;
  /** Least time between two looks at the watched runs (the beat's loop interval, at most 1 s). */
  readonly pollIntervalMs: number;
}

interface Watched extends BeatRunInfo {
  readonly until: number;
}

/**
 * What became of the runs a beat enqueued, learnt from the app's result backend
 * (`BeatApp.runOutcomes`): it counts an entry's outstanding runs for `maxInstances`, and
 * watches the runs this beat submitted to emit `executed` / `error` when they finish. Calls
 * are batched (one per dispatch round, one per poll) and a finished run is never asked about
 * again.
 */
export class RunTracker {
  readonly #o: RunTrackerOptions;
  readonly #finished = new Set<string>();
  readonly #watched = new Map<string, Watched>();
  #unavailable: string | undefined;
  #failing = false;
  readonly #warnedEntries = new Set<string>();
  #nextPollAt = 0;

  constructor(options: RunTrackerOptions) {
    this.#o = options;
    if (!options.app.runOutcomes)
      this.#unavailable = 'the app has no runOutcomes (no result backend)';
  }

  /** Whether anybody hears what becomes of a run (so submitted runs are worth watching). */
  get #hearsOutcomes(): boolean {
    return this.#o.events.listens('executed') || this.#o.events.listens('error');
  }

  /** Runs watched for `executed` / `error` (for tests and status). */
  get watching(): number {
    return this.#watched.size;
  }

  /** True when the entry's results are not stored, so its runs always look pending. */
  #ignoresResults(d: EntryDefinition): boolean {
    return (
      d.options.ignoreResult === true ||
      (d.options.ignoreResult === undefined &&
        this.#o.app.tasks?.get(d.task)?.options.ignoreResult === true)
    );
  }

  #warnEntry(name: string, message: string): void {
    if (this.#warnedEntries.has(name)) return;
    this.#warnedEntries.add(name);
    this.#o.logger.warn({ entry: name }, message);
  }

  #warnUnavailable(): void {
    if (this.#warnedEntries.has('\n')) return;
    this.#warnedEntries.add('\n');
    this.#o.logger.warn(
      { reason: this.#unavailable },
      'beat: maxInstances is not enforced and executed/error events are not emitted: the app cannot report what became of runs (give it a result backend)',
    );
  }

  /**
   * Applies `maxInstances` to the runs planned for each entry: counts the entry's recent runs
   * with no result yet (younger than `maxInstancesTimeout`), and keeps only as many of the
   * planned runs as the limit allows. Entries absent from the result may enqueue every run.
   */
  async limit(
    planned: readonly {
      readonly definition: EntryDefinition;
      readonly state: EntryState;
      readonly runs: readonly number[];
    }[],
    now: number,
  ): Promise<Map<string, Limited>> {
    const out = new Map<string, Limited>();
    const asks: { name: string; runs: readonly number[]; max: number; ids: string[] }[] = [];
    for (const p of planned) {
      const { max, timeoutMs } = instanceLimits(p.definition);
      if (max === null || p.runs.length === 0) continue;
      const name = p.definition.name;
      if (this.#ignoresResults(p.definition)) {
        this.#warnEntry(
          name,
          'beat: maxInstances is not enforced for this entry: its task ignores results, so beat cannot tell when a run ends (set maxInstances: null to silence this)',
        );
        continue;
      }
      const ids = p.state.recentRuns
        .filter((t) => now - t < timeoutMs)
        .map((t) => runTaskId(this.#o.namespace, name, t))
        .filter((id) => !this.#finished.has(id));
      asks.push({ name, runs: p.runs, max, ids });
    }
    if (asks.length === 0) return out;
    if (this.#unavailable !== undefined) {
      this.#warnUnavailable();
      return out;
    }
    const outcomes = await this.#outcomes(asks.flatMap((a) => a.ids));
    if (!outcomes) return out;
    for (const a of asks) {
      const running = a.ids.filter((id) => outcomes.get(id)?.state === 'pending').length;
      const free = Math.max(0, a.max - running);
      out.set(a.name, {
        dispatch: a.runs.slice(0, free),
        skipped: a.runs.slice(free),
        running,
        maxInstances: a.max,
      });
    }
    return out;
  }

  /** Watches a run this beat submitted, to emit `executed` or `error` when it finishes. */
  watch(run: BeatRunInfo, d: EntryDefinition): void {
    if (this.#unavailable !== undefined || !this.#hearsOutcomes || this.#ignoresResults(d)) return;
    this.#watched.delete(run.taskId);
    this.#watched.set(run.taskId, {
      ...run,
      until: run.scheduledAt.getTime() + instanceLimits(d).timeoutMs,
    });
    for (const id of this.#watched.keys()) {
      if (this.#watched.size <= WATCHED_KEPT) break;
      this.#watched.delete(id);
    }
  }

  /** Looks at the watched runs (at most once per poll interval) and reports finished ones. */
  async poll(now: number): Promise<void> {
    if (this.#watched.size === 0 || now < this.#nextPollAt) return;
    this.#nextPollAt = now + this.#o.pollIntervalMs;
    const ids: string[] = [];
    for (const [id, w] of this.#watched) {
      if (now > w.until) this.#watched.delete(id);
      else if (ids.length < OUTCOMES_BATCH) ids.push(id);
    }
    if (ids.length === 0) return;
    await this.#outcomes(ids);
    // Runs still going go to the back, so more than a batch of them are all looked at in turn.
    for (const id of ids) {
      const w = this.#watched.get(id);
      if (!w) continue;
      this.#watched.delete(id);
      this.#watched.set(id, w);
    }
  }

  /** Outcomes by task id (finished ones remembered, watched ones reported); undefined if unknown. */
  async #outcomes(ids: readonly string[]): Promise<Map<string, RunOutcome> | undefined> {
    const fetch = this.#o.app.runOutcomes?.bind(this.#o.app);
    const out = new Map<string, RunOutcome>();
    if (!fetch || ids.length === 0) return out;
    try {
      for (let i = 0; i < ids.length; i += OUTCOMES_BATCH) {
        const batch = ids.slice(i, i + OUTCOMES_BATCH);
        const got = await fetch(batch);
        batch.forEach((id, j) => out.set(id, got[j] ?? { state: 'pending' }));
      }
    } catch (err) {
      if (isCeleriacError(err) && err.code === ErrorCodes.NO_RESULT_BACKEND) {
        this.#unavailable = err.message;
        this.#watched.clear();
        this.#warnUnavailable();
        return undefined;
      }
      if (!this.#failing)
        this.#o.logger.warn(
          { err },
          'beat: the result backend could not be read; enqueuing runs without checking maxInstances until it can',
        );
      this.#failing = true;
      return undefined;
    }
    this.#failing = false;
    for (const [id, outcome] of out) if (outcome.state !== 'pending') this.#finish(id, outcome);
    return out;
  }

  #finish(id: string, outcome: Exclude<RunOutcome, { state: 'pending' }>): void {
    this.#finished.add(id);
    if (this.#finished.size > FINISHED_KEPT) {
      const oldest = this.#finished.values().next();
      if (!oldest.done) this.#finished.delete(oldest.value);
    }
    const w = this.#watched.get(id);
    if (!w) return;
    this.#watched.delete(id);
    const { until: _until, ...run } = w;
    switch (outcome.state) {
      case 'succeeded':
        this.#o.events.emit('executed', { ...run, result: outcome.result });
        break;
      case 'failed':
        this.#o.events.emit('error', { ...run, error: outcome.error });
        break;
      case 'gone':
        break;
    }
  }
}
