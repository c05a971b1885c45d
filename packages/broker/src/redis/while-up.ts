import type { Cluster, Redis } from 'ioredis';

/**
 * Waits for `work` while `client` stays connected, and gives up on it (resolving) once the
 * connection is down or drops. For shutdown steps that are best effort when Redis is gone: a
 * blocking command on a reconnecting client that `disconnect()` was called on is never
 * answered or rejected by ioredis, and other commands wait through every retry; a consumer's
 * `cancel()` must end anyway. What such a step left undone is what Redis restores by itself
 * (held messages come back after the visibility timeout; receipts and announcements expire).
 */
export async function whileUp(client: Redis | Cluster, work: Promise<unknown>): Promise<void> {
  const quiet = work.then(
    () => undefined,
    () => undefined,
  );
  if (client.status !== 'ready') return;
  let dropped!: () => void;
  const down = new Promise<void>((resolve) => (dropped = resolve));
  client.once('close', dropped);
  client.once('end', dropped);
  try {
    await Promise.race([quiet, down]);
  } finally {
    client.off('close', dropped);
    client.off('end', dropped);
  }
}
