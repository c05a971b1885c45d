import type { Celeriac } from '@celeriac/client';
import type { Logger, TaskMessage } from '@celeriac/core';

/**
 * Celery's chain and callbacks after a success: the next step gets this result prepended
 * unless immutable. A failed publish is logged, not thrown: the result is still stored.
 */
export async function publishFollowUps(
  app: Celeriac,
  msg: TaskMessage,
  value: unknown,
  log: Logger,
): Promise<void> {
  const { chain, callbacks } = msg.embed;
  const rootId = msg.headers.root_id ?? msg.headers.id;
  const sends: Promise<void>[] = [];
  if (chain && chain.length > 0) {
    const rest = chain.slice(0, -1);
    const next = chain[chain.length - 1];
    if (next) {
      sends.push(
        app.sendSignature(next, {
          parentResult: value,
          parentId: msg.headers.id,
          rootId,
          chain: rest,
        }).published,
      );
    }
  }
  for (const cb of callbacks ?? []) {
    sends.push(
      app.sendSignature(cb, { parentResult: value, parentId: msg.headers.id, rootId }).published,
    );
  }
  if (sends.length === 0) return;
  const results = await Promise.allSettled(sends);
  for (const r of results) {
    if (r.status === 'rejected')
      log.error({ err: r.reason as unknown }, 'publishing a chain step or callback failed');
  }
}
