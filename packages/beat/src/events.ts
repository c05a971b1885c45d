import { silentLogger, type Logger } from '@celeriac/core';

/**
 * What a beat tells its listeners (APScheduler's `EVENT_JOB_*`, as `beat.on(name, listener)`).
 * Every payload names its entry; run events also carry the run's task id and scheduled time.
 */
export interface BeatRunInfo {
  readonly entry: string;
  readonly task: string;
  /** The run's task id (`runTaskId(namespace, entry, scheduledAt)`). */
  readonly taskId: string;
  readonly scheduledAt: Date;
}

/**
 * An entry changed in the store, through any process (APScheduler's `EVENT_JOB_ADDED`,
 * `_MODIFIED`, `_REMOVED`): `origin` names the writer (`EntryChange.origin`).
 */
export interface EntryEventInfo {
  readonly entry: string;
  readonly origin?: string;
}

/** Why a due run was not enqueued. */
export type MissedReason = 'misfire' | 'coalesced' | 'dropped';

/** A failed run, as the result backend stored it. */
export interface RunFailure {
  /** The exception type (`ValueError`, `TypeError`, `TimeLimitExceeded`, ...). */
  readonly type: string;
  readonly message: string;
  readonly traceback?: string;
}

/** Beat's events, by name, with their payloads. */
export interface BeatEventMap {
  /** A run was published to the broker (APScheduler's `EVENT_JOB_SUBMITTED`). */
  submitted: BeatRunInfo;
  /** A run's task succeeded, seen through the result backend (`EVENT_JOB_EXECUTED`). */
  executed: BeatRunInfo & { readonly result: unknown };
  /** A run's task failed, seen through the result backend (`EVENT_JOB_ERROR`). */
  error: BeatRunInfo & { readonly error: RunFailure };
  /** A due run was not enqueued (`EVENT_JOB_MISSED`): too late, merged or over the catch-up cap. */
  missed: {
    readonly entry: string;
    readonly task: string;
    readonly scheduledAt: Date;
    readonly reason: MissedReason;
  };
  /** A due run was skipped because `maxInstances` runs were still going (`EVENT_JOB_MAX_INSTANCES`). */
  maxInstances: BeatRunInfo & { readonly running: number; readonly maxInstances: number };
  added: EntryEventInfo;
  removed: EntryEventInfo;
  modified: EntryEventInfo;
  paused: EntryEventInfo;
  resumed: EntryEventInfo;
}

export type BeatEventName = keyof BeatEventMap;
export type BeatListener<K extends BeatEventName> = (event: BeatEventMap[K]) => void;

/**
 * A small typed emitter. Unlike Node's `EventEmitter`, an `error` event with no listener does
 * not throw, and a listener that throws is logged and never breaks the beat loop.
 */
export class BeatEvents {
  readonly #listeners = new Map<BeatEventName, Set<(event: never) => void>>();
  readonly #logger: Logger;

  constructor(logger: Logger = silentLogger) {
    this.#logger = logger;
  }

  on<K extends BeatEventName>(name: K, listener: BeatListener<K>): this {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(listener);
    return this;
  }

  off<K extends BeatEventName>(name: K, listener: BeatListener<K>): this {
    this.#listeners.get(name)?.delete(listener);
    return this;
  }

  /** Whether anybody listens to `name` (so a beat skips the work of an event nobody hears). */
  listens(name: BeatEventName): boolean {
    return (this.#listeners.get(name)?.size ?? 0) > 0;
  }

  emit<K extends BeatEventName>(name: K, event: BeatEventMap[K]): void {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as BeatListener<K>)(event);
      } catch (err) {
        this.#logger.error({ err, event: name }, 'beat: an event listener threw');
      }
    }
  }
}

/**
 * What became of an enqueued run, as `BeatApp.runOutcomes` reports it: still queued or
 * running (`pending`), finished, or gone (revoked, expired, or its result no longer stored).
 */
export type RunOutcome =
  | { readonly state: 'pending' }
  | { readonly state: 'succeeded'; readonly result: unknown }
  | { readonly state: 'failed'; readonly error: RunFailure }
  | { readonly state: 'gone' };
