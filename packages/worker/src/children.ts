import type { Celeriac } from '@celeriac/client';
import type { TaskHeaders } from '@celeriac/core';

/**
 * Celery's `request.children`: the results (as `as_tuple()`) of the tasks sent while a task
 * ran, stored in its result document's `children`. Kept by the message's headers object, which
 * the task context and the result writer share; a task that sends nothing has no entry, so
 * the plain path costs one WeakMap look-up per stored state and nothing more.
 */
const trails = new WeakMap<TaskHeaders, unknown[]>();

function idOf(tuple: unknown): unknown {
  const head = Array.isArray(tuple) ? (tuple[0] as unknown) : undefined;
  return Array.isArray(head) ? head[0] : head;
}

/** Records a child; one already recorded (same id) is not recorded twice. */
export function addChild(headers: TaskHeaders, tuple: unknown): void {
  const trail = trails.get(headers);
  if (!trail) {
    trails.set(headers, [tuple]);
    return;
  }
  const id = idOf(tuple);
  if (!trail.some((t) => idOf(t) === id)) trail.push(tuple);
}

/** Replaces the children, as a built-in that reports a group instead of its parts does. */
export function replaceChildren(headers: TaskHeaders, tuples: unknown[]): void {
  trails.set(headers, tuples);
}

/** The children recorded so far, or undefined when none were. */
export function childrenOf(headers: TaskHeaders): unknown[] | undefined {
  return trails.get(headers);
}

/**
 * The app as the result writer hands it to the chain and callback sends: each signature it
 * sends becomes a child of the task (Celery sends them before storing SUCCESS, so that
 * `children` lists them). Everything else is the app's own.
 */
export function recordingApp(app: Celeriac, headers: TaskHeaders): Celeriac {
  const sendSignature: Celeriac['sendSignature'] = (sig, extra) => {
    const r = app.sendSignature(sig, extra);
    addChild(headers, [[r.id, null], null]);
    return r;
  };
  return new Proxy(app, {
    get(target, prop) {
      if (prop === 'sendSignature') return sendSignature;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}
