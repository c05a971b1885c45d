/**
 * Server-side measurements read from INFO: per-command call counts (commandstats) and the
 * redis-server's own CPU time. Both are server-wide, so on a shared Redis other clients'
 * traffic is counted too.
 */

/**
 * @param {import('ioredis').Redis} admin
 * @returns {Promise<{ commands: Record<string, { calls: number, usec: number }>, cpuUs: number, info: number }>}
 */
export async function snapshot(admin) {
  // One INFO for both sections, so the snapshot costs exactly one command.
  const text = await admin.info('everything');
  /** @type {Record<string, { calls: number, usec: number }>} */
  const commands = {};
  let cpuUs = 0;
  for (const line of text.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) {
      commands[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
      continue;
    }
    const c = /^used_cpu_(sys|user):([\d.]+)/.exec(line);
    if (c) cpuUs += Math.round(Number(c[2]) * 1e6);
  }
  return { commands, cpuUs };
}

/**
 * What happened between two snapshots, without the one INFO the second snapshot's predecessor
 * cost (INFO counts itself only after it ran, so `after` includes `before`'s call).
 */
export function diff(before, after) {
  /** @type {Record<string, { calls: number, usec: number }>} */
  const commands = {};
  for (const [name, a] of Object.entries(after.commands)) {
    const b = before.commands[name] ?? { calls: 0, usec: 0 };
    let calls = a.calls - b.calls;
    let usec = a.usec - b.usec;
    if (name === 'info') {
      calls -= 1;
      usec = 0;
    }
    if (calls > 0) commands[name] = { calls, usec };
  }
  const totalCalls = Object.values(commands).reduce((s, c) => s + c.calls, 0);
  const totalUsec = Object.values(commands).reduce((s, c) => s + c.usec, 0);
  return { commands, totalCalls, totalUsec, cpuUs: after.cpuUs - before.cpuUs };
}

/** Deletes every key matching `pattern` (SCAN + UNLINK, never KEYS or FLUSH). */
export async function deleteMatching(admin, pattern) {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await admin.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
