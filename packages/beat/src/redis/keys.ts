import { CeleriacError, ErrorCodes } from '@celeriac/core';

/**
 * Every Redis key the beat store reads or writes is named here, and nowhere else. They share
 * one hash tag, `{<namespace>}`, so a Lua script may touch all of them on Redis Cluster too.
 *
 * | key | type | what | bounded by |
 * | --- | --- | --- | --- |
 * | `entry.<name>` | hash | definition (JSON) and state of one entry | `maxEntries`; a removed entry's hash expires after a day |
 * | `names` | set | names of the live entries | `maxEntries` |
 * | `due` | zset | enabled entries by due time (ms) | `maxEntries` |
 * | `lock` | string | leader lock, `<fence>:<owner>` | PX lock TTL |
 * | `fence` | string | fencing counter | 30-day TTL, refreshed on each acquisition |
 * | `pending` | zset | claimed runs not yet confirmed, `<name>\n<ms>` by claim time | `maxPending`, TTL a day after the last claim |
 * | `changes` | pub/sub channel | a JSON notice `{kind, name?, origin}` per change of entries (`ScheduleStore.watch`) | not stored |
 */
export interface BeatKeys {
  entry(name: string): string;
  readonly names: string;
  readonly due: string;
  readonly lock: string;
  readonly fence: string;
  readonly pending: string;
  /** The pub/sub channel of change notices (a channel, not a key: nothing is stored). */
  readonly changes: string;
  /** What every entry key starts with (the Lua of `removeAll` builds entry keys from it). */
  readonly entryPrefix: string;
}

export function beatKeys(namespace: string): BeatKeys {
  if (typeof namespace !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(namespace)) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `RedisScheduleStore namespace must be 1-100 characters of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(namespace)}`,
      {
        details: { field: 'namespace', option: 'namespace', value: namespace },
      },
    );
  }
  const p = `_celeriac.beat.{${namespace}}.`;
  return {
    entry: (name) => `${p}entry.${name}`,
    names: `${p}names`,
    due: `${p}due`,
    lock: `${p}lock`,
    fence: `${p}fence`,
    pending: `${p}pending`,
    changes: `${p}changes`,
    entryPrefix: `${p}entry.`,
  };
}

/** A pending member: the entry name and the scheduled time, joined by a newline (names have no control characters). */
export function pendingMember(name: string, scheduledAt: number): string {
  return `${name}\n${scheduledAt}`;
}

export function parsePendingMember(
  member: string,
): { name: string; scheduledAt: number } | undefined {
  const i = member.lastIndexOf('\n');
  if (i < 0) return undefined;
  const scheduledAt = Number(member.slice(i + 1));
  return Number.isFinite(scheduledAt) ? { name: member.slice(0, i), scheduledAt } : undefined;
}
