import type { Clock, Logger } from '@celeriac/core';
import type { BeatApp } from './beat.js';
import type { BeatEntries } from './beat-entries.js';
import type { CompiledBeatOptions } from './beat-options.js';
import type { Limited, RunTracker } from './beat-runs.js';
import { runTaskId, type EntryDefinition, type StoredEntry } from './entry.js';
import type { BeatEvents, BeatRunInfo } from './events.js';
import type { LeaderLock } from './leader-lock.js';
import { logPlan, planTicks, type TickPlan } from './misfire.js';
import type { PendingRun, RunRef, ScheduleStore, TickClaim } from './store/schedule-store.js';

export interface DispatcherOptions {
  readonly app: BeatApp;
  readonly store: ScheduleStore;
  readonly entries: BeatEntries;
  readonly lock: LeaderLock;
  readonly runs: RunTracker;
  readonly events: BeatEvents;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly options: Pick<CompiledBeatOptions, 'batchSize' | 'lockTtlMs'>;
}

interface Planned {
  readonly entry: StoredEntry;
  readonly plan: TickPlan;
}

/**
 * The leader's work in one tick: claim the due runs of due entries (after the misfire policy
 * and `maxInstances`), publish them, settle them; and republish runs a dead leader claimed but
 * never confirmed. Reports each run's fate to the beat's events.
 */
export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #inFlight = new Set<string>();
  /** Entries whose stored schedule is invalid, being paused. */
  readonly #pausing = new Set<string>();
  published = 0;

  constructor(options: DispatcherOptions) {
    this.#o = options;
  }

  async dispatchDue(now: number): Promise<number> {
    const { store, lock, options } = this.#o;
    // Claims go batch by batch; publishes of a claimed batch run while the next is claimed.
    const sends: Promise<RunRef | undefined>[] = [];
    for (let round = 0; round < 20; round++) {
      const lease = lock.lease;
      if (!lease) break;
      const due = await store.due(now, options.batchSize);
      if (due.length === 0) break;
      const planned: Planned[] = [];
      for (const entry of due) {
        const plan = this.#plan(entry, now);
        if (plan) planned.push({ entry, plan });
      }
      const limits = await this.#o.runs.limit(
        planned.map(({ entry, plan }) => ({ ...entry, runs: plan.dispatch })),
        now,
      );
      const claims = planned.map(({ entry: { definition: d, state }, plan }): TickClaim => ({
        name: d.name,
        revision: state.revision,
        expectedNextRunAt: state.nextRunAt ?? 0,
        runs: limits.get(d.name)?.dispatch ?? plan.dispatch,
        nextRunAt: plan.nextRunAt,
        dueAt: plan.dueAt,
      }));
      const byName = new Map(planned.map((p) => [p.entry.definition.name, p]));
      const results = await store.claim(lease, claims, now);
      for (const r of results) {
        if (r.status === 'fenced') {
          this.#o.logger.warn(
            { fence: lease.fence },
            'beat: the leader lock moved to another beat; following',
          );
          lock.drop();
          break;
        }
        if (r.status === 'stale') {
          this.#o.logger.debug(
            { entry: r.name },
            'beat: entry changed while being dispatched; will look again',
          );
          continue;
        }
        const p = byName.get(r.name);
        if (!p) continue;
        this.#claimed(p, limits.get(r.name));
        for (const at of r.runs) sends.push(this.#publish(p.entry.definition, at, now));
      }
      if (due.length < options.batchSize) break;
    }
    const settled = (await Promise.all(sends)).filter((x): x is RunRef => x !== undefined);
    if (settled.length > 0) await store.settle(settled);
    return settled.length;
  }

  /** Reports what a successful claim skipped: missed runs, and runs over `maxInstances`. */
  #claimed({ entry: { definition: d }, plan }: Planned, limited: Limited | undefined): void {
    const { events, logger } = this.#o;
    logPlan(logger, d, plan);
    for (const m of plan.missed)
      events.emit('missed', {
        entry: d.name,
        task: d.task,
        scheduledAt: new Date(m.scheduledAt),
        reason: m.reason,
      });
    if (!limited || limited.skipped.length === 0) return;
    logger.warn(
      {
        entry: d.name,
        skipped: limited.skipped.map(iso),
        running: limited.running,
        maxInstances: limited.maxInstances,
      },
      'beat: skipped a run: maxInstances runs of the entry are still queued or running',
    );
    for (const at of limited.skipped)
      events.emit('maxInstances', {
        ...this.#info(d, at),
        running: limited.running,
        maxInstances: limited.maxInstances,
      });
  }

  #info(d: EntryDefinition, scheduledAt: number): BeatRunInfo {
    return {
      entry: d.name,
      task: d.task,
      taskId: runTaskId(this.#o.store.namespace, d.name, scheduledAt),
      scheduledAt: new Date(scheduledAt),
    };
  }

  #plan(entry: StoredEntry, now: number): TickPlan | undefined {
    const { definition: d, state } = entry;
    if (state.nextRunAt === null) return undefined;
    let schedule;
    try {
      schedule = this.#o.entries.scheduleOf(entry);
    } catch (err) {
      this.#o.logger.error(
        { err, entry: d.name },
        'beat: the stored schedule is invalid; pausing the entry',
      );
      // Once, though the next round may read the entry again before the pause is written;
      // reported as any pause is (other beats hear of it through the store's change notice).
      if (!this.#pausing.has(d.name)) {
        this.#pausing.add(d.name);
        void this.#o.store
          .setEnabled(d.name, false, undefined, now)
          .then(
            (paused) => {
              if (paused) this.#o.events.emit('paused', { entry: d.name });
            },
            () => undefined,
          )
          .finally(() => this.#pausing.delete(d.name));
      }
      return undefined;
    }
    return planTicks({ definition: d, schedule, nextRunAt: state.nextRunAt, now });
  }

  /** Publishes one claimed run; resolves with it when the broker has it, else undefined (it stays pending). */
  async #publish(
    d: EntryDefinition,
    scheduledAt: number,
    now: number,
  ): Promise<RunRef | undefined> {
    const key = `${d.name}\n${scheduledAt}`;
    if (this.#inFlight.has(key)) return undefined;
    this.#inFlight.add(key);
    const info = this.#info(d, scheduledAt);
    const log = { entry: d.name, task: d.task, taskId: info.taskId, scheduledAt: iso(scheduledAt) };
    const { logger } = this.#o;
    try {
      if (this.#o.clock.now() >= this.#o.lock.validUntil) {
        logger.warn(log, 'beat: leader lock about to expire; leaving the run to the next leader');
        return undefined;
      }
      const { headers, ...options } = d.options;
      const result = this.#o.app.sendTask(
        d.task,
        d.args,
        { ...d.kwargs },
        {
          ...options,
          taskId: info.taskId,
          headers: { ...headers, beat_entry: d.name, beat_scheduled_at: iso(scheduledAt) },
        },
      );
      await result.published;
      this.published++;
      logger.info(
        { ...log, lateMs: now - scheduledAt },
        `beat: sending due task ${d.name} (${d.task})`,
      );
      this.#o.runs.watch(info, d);
      this.#o.events.emit('submitted', info);
      return { name: d.name, scheduledAt };
    } catch (err) {
      logger.error(
        { ...log, err },
        'beat: publishing a run failed; it stays pending and is retried',
      );
      return undefined;
    } finally {
      this.#inFlight.delete(key);
    }
  }

  /** Republishes runs claimed by a beat that died (or failed to publish) before settling them. */
  async recover(now: number): Promise<number> {
    const { store, options, logger, events } = this.#o;
    const stale: PendingRun[] = await store.pending(now - options.lockTtlMs, options.batchSize);
    if (stale.length === 0) return 0;
    const settled: RunRef[] = [];
    const sends: Promise<RunRef | undefined>[] = [];
    const entries = new Map<string, StoredEntry | undefined>();
    for (const p of stale) {
      if (!entries.has(p.name)) entries.set(p.name, await store.get(p.name));
      const entry = entries.get(p.name);
      if (!entry) {
        settled.push(p);
        continue;
      }
      const d = entry.definition;
      const grace = d.misfireGraceTime;
      if (grace !== null && now - p.scheduledAt > grace * 1000) {
        logger.warn(
          { entry: p.name, scheduledAt: iso(p.scheduledAt) },
          'beat: a pending run is later than misfireGraceTime; skipped',
        );
        events.emit('missed', {
          entry: d.name,
          task: d.task,
          scheduledAt: new Date(p.scheduledAt),
          reason: 'misfire',
        });
        settled.push(p);
        continue;
      }
      logger.warn(
        { entry: p.name, scheduledAt: iso(p.scheduledAt), claimedAt: iso(p.claimedAt) },
        'beat: republishing a run claimed but not confirmed',
      );
      sends.push(this.#publish(d, p.scheduledAt, now));
    }
    const ok = (await Promise.all(sends)).filter((x): x is RunRef => x !== undefined);
    settled.push(...ok);
    if (settled.length > 0) await store.settle(settled);
    return ok.length;
  }
}

function iso(t: number): string {
  return new Date(t).toISOString();
}
