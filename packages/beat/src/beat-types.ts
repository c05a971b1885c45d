import type { ApplyOptions } from '@celeriac/client';
import type { Clock, Logger } from '@celeriac/core';
import type { RunOutcome } from './events.js';

/** What beat needs of the app: `sendTask` (and, when present, its logger and clock). */
export interface BeatApp {
  sendTask(
    name: string,
    args?: readonly unknown[],
    kwargs?: Record<string, unknown>,
    options?: ApplyOptions,
  ): { readonly published: Promise<void> };
  /**
   * What became of earlier runs, by task id, in order (from the result backend). Beat uses it
   * for `maxInstances` and the `executed` / `error` events; without it neither is available.
   */
  runOutcomes?(taskIds: readonly string[]): Promise<RunOutcome[]>;
  readonly logger?: Logger;
  readonly clock?: Clock;
}

/**
 * Lifecycle of a beat: `start()` moves it from `idle` through `starting` to `running`;
 * `close()`, from any state, through `closing` to `closed`, for good.
 */
export type BeatState = 'idle' | 'starting' | 'running' | 'closing' | 'closed';
/** Whether this beat dispatches (`leader`) or waits for the lock (`follower`). */
export type BeatRole = 'leader' | 'follower';

/** What one `tick()` did. */
export interface TickReport {
  readonly role: BeatRole;
  /** Runs published in this tick. */
  readonly published: number;
  /** Milliseconds until this beat wants to tick again. */
  readonly sleepMs: number;
}
