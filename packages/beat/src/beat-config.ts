import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { optionChecks, optionTypes as t, type OptionType } from '@celeriac/core/internal';
import { BEAT_SPEC, type BeatOptions } from './beat.js';
import type { BeatEntry } from './entry.js';

/**
 * How an app module declares its periodic tasks for `celeriac beat --app <module>` and
 * `celeriac worker --beat`: it exports `beat`, either an array of entries or this object.
 *
 * @example
 * ```ts
 * // app.ts
 * import { Celeriac } from '@celeriac/client';
 * import { crontab, defineBeat, every } from '@celeriac/beat';
 *
 * export const app = new Celeriac({ broker: 'redis://localhost:6379' });
 * export const beat = defineBeat({
 *   timezone: 'Europe/London',
 *   entries: [
 *     { name: 'nightly-report', task: 'reports.nightly', schedule: crontab('0 3 * * *') },
 *     { name: 'ping', task: 'ops.ping', schedule: every(30).seconds() },
 *   ],
 * });
 * ```
 */
export interface BeatConfig extends Omit<BeatOptions, 'store' | 'logger' | 'clock' | 'id'> {
  /**
   * Schedule store URL (`redis://…`, `sqlite://…` or `memory://`).
   * @default the app's broker URL when it is Redis or SQLite, else memory://
   */
  store?: string;
  /** Namespace in the store. @default 'default' */
  namespace?: string;
}

const { store: _store, logger: _logger, clock: _clock, id: _id, ...configurable } = BEAT_SPEC;
const CONFIG_SPEC = {
  ...configurable,
  store: t.nonEmptyString,
  namespace: t.nonEmptyString,
} as const satisfies { readonly [K in keyof Required<BeatConfig>]: OptionType };

/** Types a beat config; returns it unchanged. */
export function defineBeat(config: BeatConfig): BeatConfig {
  return config;
}

/** Reads a module's `beat` export: an array of entries, a `BeatConfig`, or nothing. */
export function beatConfigFrom(value: unknown, source: string): BeatConfig {
  if (value === undefined || value === null) return {};
  if (Array.isArray(value)) return { entries: value as BeatEntry[] };
  if (typeof value === 'object') {
    const entries = (value as { entries?: unknown }).entries;
    if (entries === undefined || Array.isArray(entries)) {
      optionChecks(`${source} beat config`).strict(value, CONFIG_SPEC);
      return value;
    }
  }
  throw new CeleriacError(
    ErrorCodes.INVALID_SCHEDULE,
    `${source}: the "beat" export must be an array of entries or { entries: [...], ... } (see defineBeat)`,
    {
      details: { field: 'beat', option: 'beat', value: typeof value },
    },
  );
}
