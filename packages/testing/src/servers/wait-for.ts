import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `check` every 50 ms until it gives a value (not undefined) and returns it; a check
 * that throws counts as not yet. Past `deadline` (epoch ms) it throws, naming `servers` and
 * `what` it waited for, with the last error seen. How the test servers wait for readiness.
 */
export async function waitFor<T>(
  servers: string,
  what: string,
  deadline: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new Error(`${servers}: timed out waiting for ${what}${why}`);
    }
    await sleep(50);
  }
}
