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
