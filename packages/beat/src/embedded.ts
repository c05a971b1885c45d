import { type Logger } from '@celeriac/core';
import { optionChecks, optionTypes as t, type OptionType } from '@celeriac/core/internal';
import { BEAT_SPEC, Beat, type BeatApp, type BeatOptions } from './beat.js';
import { createScheduleStore } from './store/create-schedule-store.js';
import type { ScheduleStore } from './store/schedule-store.js';

/** Options of {@link startEmbeddedBeat}. */
export interface EmbeddedBeatOptions extends BeatOptions {
  /**
   * Store URL when no `store` is given: `redis://…` or `sqlite://…` shares schedule state with
   * other beats and keeps it across restarts; `memory://` keeps it in this process.
   * @default the app's broker URL when it is redis://, rediss:// or sqlite://, else memory://
   */
  storeUrl?: string;
  /** Namespace of a store opened from `storeUrl`. @default 'default' */
  namespace?: string;
}

const EMBEDDED_SPEC = {
  ...BEAT_SPEC,
  storeUrl: t.nonEmptyString,
  namespace: t.nonEmptyString,
} as const satisfies { readonly [K in keyof Required<EmbeddedBeatOptions>]: OptionType };

/** A running embedded beat. */
export interface EmbeddedBeat {
  readonly beat: Beat;
  /** Closes the beat and the store it opened. Idempotent. */
  close(): Promise<void>;
  /** @deprecated Use `close()`, which this calls; `stop()` goes in the next release. */
  stop(): Promise<void>;
}

/**
 * The app's broker URL when it names Redis or a SQLite file: the natural place for the
 * schedule store (the same server, or the same file).
 */
export function defaultStoreUrl(app: {
  readonly options?: { readonly brokerUrl?: string | undefined };
}): string {
  const url = app.options?.brokerUrl;
  return url && /^(rediss?|sentinels?|sqlite):\/\//i.test(url) ? url : 'memory://';
}

/**
 * Starts a beat inside another process, for single-node setups (`celeriac worker --beat`).
 * With a Redis or SQLite broker the schedule lives beside the queues, so several workers
 * started with `--beat` still enqueue each run once: only one of them leads at a time.
 *
 * @example
 * ```ts
 * const embedded = await startEmbeddedBeat(app, logger, { entries });
 * process.once('SIGTERM', () => void embedded.close());
 * ```
 */
export async function startEmbeddedBeat(
  app: BeatApp & { readonly options?: { readonly brokerUrl?: string | undefined } },
  logger?: Logger,
  options: EmbeddedBeatOptions = {},
): Promise<EmbeddedBeat> {
  optionChecks('embedded beat').strict(options, EMBEDDED_SPEC);
  const { storeUrl, namespace, ...beatOptions } = options;
  let opened: ScheduleStore | undefined;
  const store =
    options.store ??
    (opened = await createScheduleStore(
      storeUrl ?? defaultStoreUrl(app),
      namespace === undefined ? {} : { namespace },
    ));
  const beat = new Beat(app, { ...beatOptions, store, ...(logger ? { logger } : {}) });
  try {
    await beat.start();
  } catch (err) {
    await opened?.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await beat.close();
      await opened?.close();
    })());
  return { beat, close, stop: close };
}
