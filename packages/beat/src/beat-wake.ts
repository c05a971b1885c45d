import type { Logger } from '@celeriac/core';
import type { BeatEventMap } from './events.js';
import type { EntryChange, ScheduleStore, StoreWatch } from './store/schedule-store.js';

/** The entry events a change notice maps to. */
export type EntryEventName = 'added' | 'modified' | 'removed' | 'paused' | 'resumed';

/** The beat event of a change notice, or undefined (`cleared`, or a nameless notice). */
export function entryEvent(
  change: EntryChange,
): { name: EntryEventName; event: BeatEventMap[EntryEventName] } | undefined {
  if (change.name === undefined || change.kind === 'cleared') return undefined;
  return {
    name: change.kind,
    event: {
      entry: change.name,
      ...(change.origin === undefined ? {} : { origin: change.origin }),
    },
  };
}

/** What {@link BeatWake} needs of its beat. */
export interface BeatWakeOptions {
  readonly logger: Logger;
  /** Whether a change should wake the loop now: the beat runs and leads. */
  readonly leads: () => boolean;
  /** Hears every change notice (the beat's entry events). */
  readonly onChange?: (change: EntryChange) => void;
}

/**
 * How a beat's loop sleeps, and what wakes it early: `close()`, or a change in the store
 * (`ScheduleStore.watch`) while this beat leads, so an edit made through any process is acted
 * on at once rather than at the next poll (`maxLoopInterval`, which stays the fallback: a
 * store without `watch`, or a notice lost with a connection, is caught by it). A follower
 * ignores changes: the leader dispatches.
 */
export class BeatWake {
  readonly #o: BeatWakeOptions;
  #watch: StoreWatch | undefined;
  #resolve: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** A change arrived since the loop last looked at the store. */
  #dirty = false;
  #stopped = false;

  constructor(options: BeatWakeOptions) {
    this.#o = options;
  }

  /** Subscribes to the store's changes; without `watch` (or when it fails), the beat polls. */
  async watch(store: ScheduleStore): Promise<void> {
    if (!store.watch) {
      this.#o.logger.debug('beat: the schedule store has no watch; edits apply at the next poll');
      return;
    }
    try {
      this.#watch = await store.watch(this.#onChange);
    } catch (err) {
      this.#o.logger.warn(
        { err },
        'beat: cannot watch the schedule store; edits apply at the next poll (maxLoopInterval)',
      );
    }
  }

  readonly #onChange = (change: EntryChange): void => {
    this.#o.onChange?.(change);
    if (this.#stopped || !this.#o.leads()) return;
    this.#dirty = true;
    this.#resolve?.();
  };

  /** The loop is about to read the store: changes before this point are seen by that read. */
  looking(): void {
    this.#dirty = false;
  }

  /** Sleeps `ms`, or less when a change arrives or `stop()` is called (also at once if one came). */
  sleep(ms: number): Promise<void> {
    if (this.#dirty || this.#stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#resolve = resolve;
      this.#timer = setTimeout(resolve, Math.max(0, ms));
    }).finally(() => {
      clearTimeout(this.#timer);
      this.#resolve = undefined;
    });
  }

  /** Ends the current sleep, and every later one at once. */
  stop(): void {
    this.#stopped = true;
    this.#resolve?.();
  }

  /** Closes the store watch. Idempotent. */
  async close(): Promise<void> {
    this.stop();
    const watch = this.#watch;
    this.#watch = undefined;
    await watch?.close();
  }
}
