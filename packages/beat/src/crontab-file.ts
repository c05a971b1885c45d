import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { CeleriacError, ErrorCodes } from '@celeriac/core';
import type { BeatEntry } from './entry.js';
import { crontab } from './schedules/crontab.js';
import { checkTimeZone } from './schedules/wall-clock.js';

const MACROS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly']);

/**
 * Parses a crontab-style file into beat entries (`celeriac beat --crontab FILE`). One entry a
 * line: five time fields (or an `@daily`-style macro), the task name, then optional JSON: an
 * array is the args, an object the kwargs. `#` starts a comment line; `CRON_TZ=Europe/London`
 * (or `TZ=`) sets the time zone of the lines after it. Entry names are `<task> <schedule>`
 * (with `#2`, `#3` for repeats), so editing a line replaces its entry.
 *
 * @example
 * ```text
 * CRON_TZ=Europe/London
 * # minute hour day month weekday  task              args
 * 0 3 * * 1-5                      reports.nightly   ["eu"]
 * *\/15 * * * *                     cache.refresh     {"full": false}
 * @hourly                          ops.ping
 * ```
 */
export function parseCrontabFile(text: string, source = 'crontab'): BeatEntry[] {
  const entries: BeatEntry[] = [];
  const seen = new Map<string, number>();
  let timezone: string | undefined;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    const where = `${source}:${index + 1}`;
    const fail = (why: string, cause?: unknown): never => {
      throw new CeleriacError(ErrorCodes.INVALID_SCHEDULE, `${where}: ${why}`, {
        ...(cause === undefined ? {} : { cause }),
        details: { field: 'line', option: 'line', value: raw, line: index + 1 },
      });
    };
    if (line === '' || line.startsWith('#')) return;
    const tz = /^(?:CRON_TZ|TZ)\s*=\s*(\S+)$/.exec(line);
    if (tz) {
      try {
        timezone = checkTimeZone(tz[1], 'CRON_TZ');
      } catch (err) {
        fail((err as Error).message, err);
      }
      return;
    }
    const tokens = line.split(/\s+/);
    const fieldCount = MACROS.has((tokens[0] ?? '').toLowerCase()) ? 1 : 5;
    const m = new RegExp(`^(\\S+(?:\\s+\\S+){${fieldCount - 1}})\\s+(\\S+)\\s*(.*)$`).exec(line);
    if (!m)
      return fail(
        `expected ${fieldCount === 1 ? 'a macro' : 'five time fields'} and a task name, got "${line}"`,
      );
    const expression = (m[1] ?? '').split(/\s+/).join(' ');
    const task = m[2] ?? '';
    const rest = (m[3] ?? '').trim();
    let args: unknown[] = [];
    let kwargs: Record<string, unknown> = {};
    if (rest !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(rest);
      } catch (err) {
        fail(
          `the text after the task name must be JSON (an args array or a kwargs object), got ${rest}`,
          err,
        );
      }
      if (Array.isArray(parsed)) args = parsed;
      else if (typeof parsed === 'object' && parsed !== null)
        kwargs = parsed as Record<string, unknown>;
      else
        fail(
          `the text after the task name must be a JSON array (args) or object (kwargs), got ${rest}`,
        );
    }
    const schedule = (() => {
      try {
        return crontab(expression, timezone === undefined ? {} : { timezone });
      } catch (err) {
        return fail((err as Error).message, err);
      }
    })();
    const base = `${task} ${expression}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    entries.push({ name: n === 1 ? base : `${base} #${n}`, task, schedule, args, kwargs });
  });
  return entries;
}

/**
 * Reads and parses a crontab file. Throws `CELERIAC_ERR_INVALID_SCHEDULE` naming the line of a
 * bad entry, and `CELERIAC_ERR_INVALID_OPTION` when the file cannot be read.
 */
export function loadCrontabFile(file: string): BeatEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(err);
    throw new CeleriacError(ErrorCodes.INVALID_OPTION, `crontab file ${file}: ${why}`, {
      cause: err,
      details: { field: 'crontab', option: 'crontab', value: file },
    });
  }
  return parseCrontabFile(text, file);
}

/** Options of {@link watchCrontabFile}. */
export interface CrontabFileWatchOptions {
  /** Called once the file has changed and stayed unchanged for `debounceMs`. */
  onChange: () => void;
  /** Quiet time after the last change before `onChange`, in milliseconds. @default 200 */
  debounceMs?: number;
}

/**
 * Calls `onChange` when a crontab file changes, once per burst of writes (an editor saving
 * writes, truncates or renames several times). It watches the file's folder, not the file, so
 * a save that replaces the file (a rename over it) is seen too. `close()` stops it.
 */
export function watchCrontabFile(
  file: string,
  options: CrontabFileWatchOptions,
): { close(): void } {
  const path = resolve(file);
  const name = basename(path);
  const debounceMs = options.debounceMs ?? 200;
  let timer: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
    if (changed !== null && changed !== name) return;
    clearTimeout(timer);
    timer = setTimeout(options.onChange, debounceMs);
  });
  watcher.on('error', () => watcher.close());
  return {
    close: () => {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
