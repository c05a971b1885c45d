import { randomUUID } from 'node:crypto';
import type { Celeriac } from '@celeriac/client';
import type { Logger, SignatureJSON, TaskMessage } from '@celeriac/core';

type Extra = NonNullable<Parameters<Celeriac['sendSignature']>[1]>;

/** Sends one signature; a send that throws (a bad option in it) is a rejected publish. */
async function send(app: Celeriac, sig: SignatureJSON, extra: Extra): Promise<unknown> {
  return app.sendSignature(sig, extra).published;
}

async function settle(sends: Promise<unknown>[], log: Logger, what: string): Promise<void> {
  if (sends.length === 0) return;
  const results = await Promise.allSettled(sends);
  for (const r of results) {
    if (r.status === 'rejected')
      log.error({ err: r.reason as unknown }, `publishing ${what} failed`);
  }
}

/**
 * Celery's chain and callbacks after a success: the next step gets this result prepended
 * unless immutable, and keeps every option its signature carries (reply queue, expiry, time
 * limits, errbacks, priority, route). A failed publish is logged, not thrown: the result is
 * still stored.
 */
export async function publishFollowUps(
  app: Celeriac,
  msg: TaskMessage,
  value: unknown,
  log: Logger,
): Promise<void> {
  const { chain, callbacks } = msg.embed;
  const rootId = msg.headers.root_id ?? msg.headers.id;
  const sends: Promise<unknown>[] = [];
  if (chain && chain.length > 0) {
    const rest = chain.slice(0, -1);
    const next = chain[chain.length - 1];
    if (next) {
      sends.push(
        send(app, next, { parentResult: value, parentId: msg.headers.id, rootId, chain: rest }),
      );
    }
  }
  for (const cb of callbacks ?? []) {
    sends.push(send(app, cb, { parentResult: value, parentId: msg.headers.id, rootId }));
  }
  await settle(sends, log, 'a chain step or callback');
}

/**
 * Celery's errbacks after a final failure (`_call_task_errbacks`): as Celery does for an
 * errback that is not an in-process function of three arguments, the errbacks are sent as
 * one group, `group(errbacks).apply_async((task_id,), parent_id=task_id, root_id=root_id)`:
 * each gets the failed task's id prepended unless immutable. Called once per failure, after
 * the FAILURE is stored (a store that fails requeues the task instead, so a rerun cannot
 * send them twice). A failed publish is logged, not thrown.
 */
export async function publishErrbacks(app: Celeriac, msg: TaskMessage, log: Logger): Promise<void> {
  const taskId = msg.headers.id;
  await sendErrbacks(app, msg.embed.errbacks ?? [], taskId, msg.headers.root_id ?? taskId, log);
}

/**
 * Sends `errbacks` for the failed task `failedId` as Celery's one group: each gets the id
 * prepended unless immutable, `parent_id` is the failed task. Also what a failed chord sends
 * for its body (`chord_error_from_stack`), with the body's id.
 */
export async function sendErrbacks(
  app: Celeriac,
  errbacks: readonly SignatureJSON[],
  failedId: string,
  rootId: string,
  log: Logger,
): Promise<void> {
  if (errbacks.length === 0) return;
  const groupId = randomUUID();
  const sends = errbacks.map((eb) =>
    send(app, eb, { parentResult: failedId, parentId: failedId, rootId, groupId }),
  );
  await settle(sends, log, 'an errback');
}
