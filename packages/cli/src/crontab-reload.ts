import { readFileSync } from 'node:fs';
import { loadCrontabFile, watchCrontabFile, type Beat, type BeatEntry } from '@celeriac/beat';
import type { Logger } from '@celeriac/core';

/** What {@link reloadCrontab} needs. */
export interface CrontabReloadOptions {
  readonly file: string;
  /** The beat whose configured entries the file's join. */
  readonly beat: Pick<Beat, 'entries'>;
  /** The configured entries that do not come from the file (the app module's). */
  readonly baseEntries: readonly BeatEntry[];
  /** The file's entries as the beat started with them. */
  readonly loaded: readonly BeatEntry[];
  readonly logger: Logger;
  /** Quiet time after a write before the file is read again, in milliseconds. @default 200 */
  readonly debounceMs?: number;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Reloads `celeriac beat --crontab FILE` on SIGHUP and when the file changes: the file's
 * entries are synced again as configuration (new lines added, edited ones updated, removed
 * ones removed). A file that does not parse, or a set of entries the beat refuses, is logged
 * with the reason and the previous entries stay. Reloads run one at a time. `close()` stops
 * watching and gives SIGHUP back.
 */
export function reloadCrontab(o: CrontabReloadOptions): { close(): void } {
  let current = o.loaded.length;
  let lastText = readText(o.file);
  let queue: Promise<void> = Promise.resolve();

  const reload = async (reason: 'SIGHUP' | 'change'): Promise<void> => {
    const text = readText(o.file);
    // A touch, or a burst of writes that ended where it started: nothing to do.
    if (reason === 'change' && text !== undefined && text === lastText) return;
    let fresh: BeatEntry[];
    try {
      fresh = loadCrontabFile(o.file);
      // Synced as configuration: new lines created, edited ones updated, dropped ones removed;
      // an invalid set is refused before anything is written.
      const results = await o.beat.entries.sync([...o.baseEntries, ...fresh]);
      lastText = text;
      current = fresh.length;
      o.logger.info(
        {
          file: o.file,
          reason,
          entries: fresh.length,
          changed: results
            .filter((r) => r.status !== 'unchanged')
            .map((r) => `${r.name}:${r.status}`),
        },
        'beat: crontab reloaded',
      );
    } catch (err) {
      o.logger.error(
        { err, file: o.file, reason },
        `beat: crontab not reloaded, keeping the previous ${current} entries: ${(err as Error).message}`,
      );
    }
  };
  const enqueue = (reason: 'SIGHUP' | 'change'): void => {
    queue = queue.then(() => reload(reason));
  };
  const onHup = (): void => enqueue('SIGHUP');
  process.on('SIGHUP', onHup);
  let watcher: { close(): void } | undefined;
  try {
    watcher = watchCrontabFile(o.file, {
      onChange: () => enqueue('change'),
      ...(o.debounceMs === undefined ? {} : { debounceMs: o.debounceMs }),
    });
  } catch (err) {
    o.logger.warn(
      { err, file: o.file },
      'beat: cannot watch the crontab file; reload it with SIGHUP',
    );
  }
  return {
    close: () => {
      process.off('SIGHUP', onHup);
      watcher?.close();
    },
  };
}
