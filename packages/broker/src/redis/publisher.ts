import { CeleriacError, ErrorCodes } from '@celeriac/core';
import type { BrokerContext } from './context.js';
import { runScriptReplicated, slices, TurnBatch } from './internal/index.js';
import { keyIndexer } from './key-index.js';

/** Most envelopes in one LPUSH of the publish script (Lua's `unpack` has a bound). */
const MAX_RUN = 1000;
/** Most envelopes in one publish script call; a longer queue of publishes is split. */
const MAX_PUBLISH_BATCH = 5000;

/** A message on its way: to a ready list now, or to the delayed set until `deliverAt`. */
export type PublishCall =
  | {
      readonly kind: 'ready';
      readonly list: string;
      readonly wake: string;
      /** The shard's hash tag ('' in the kombu layout): one script call per tag. */
      readonly tag: string;
      readonly json: string;
    }
  | { readonly kind: 'delayed'; readonly keys: string[]; readonly args: (string | number)[] };

/** A publish waiting for the next publish script call. */
interface PendingPublish {
  readonly call: Extract<PublishCall, { kind: 'ready' }>;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Sends the ready publishes queued in one turn of the event loop (`process.nextTick`): a burst
 * of `publish()` calls costs one script call, one command for Redis to dispatch per queue
 * rather than one script run per message, and far fewer client-side command objects. In the
 * cluster layout, one script call per shard (its keys share a slot), sent together.
 */
export class Publisher {
  readonly #ctx: BrokerContext;
  readonly #closed: () => boolean;
  readonly #publishes = new TurnBatch<PendingPublish>((pending) => this.#flush(pending));

  constructor(ctx: BrokerContext, closed: () => boolean) {
    this.#ctx = ctx;
    this.#closed = closed;
  }

  send(call: PublishCall): Promise<unknown> {
    if (call.kind === 'delayed') {
      return this.#ctx.run('publish', () =>
        runScriptReplicated(
          this.#ctx.client,
          this.#ctx.scripts.delay,
          call.keys,
          call.args,
          this.#ctx.options.wait,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => this.#publishes.add({ call, resolve, reject }));
  }

  #flush(pending: readonly PendingPublish[]): void {
    if (this.#closed()) {
      const err = new CeleriacError(ErrorCodes.CLOSED, 'RedisBroker: publish after close()');
      for (const p of pending) p.reject(err);
      return;
    }
    if (!this.#ctx.layout.cluster) {
      for (const batch of slices(pending, MAX_PUBLISH_BATCH)) this.#sendBatch(batch);
      return;
    }
    const byTag = new Map<string, PendingPublish[]>();
    for (const p of pending) {
      let group = byTag.get(p.call.tag);
      if (!group) byTag.set(p.call.tag, (group = []));
      group.push(p);
    }
    for (const group of byTag.values()) {
      for (const batch of slices(group, MAX_PUBLISH_BATCH)) this.#sendBatch(batch);
    }
  }

  #sendBatch(batch: readonly PendingPublish[]): void {
    const keys: string[] = [];
    const indexOf = keyIndexer(keys);
    const args: (string | number)[] = [this.#ctx.wakeTtl];
    /** Per run: the index of its first item in `batch`, and of its count in `args`. */
    const runs: { first: number; countAt: number }[] = [];
    let list: string | undefined;
    let count = 0;
    for (let i = 0; i < batch.length; i++) {
      const { call } = batch[i]!;
      if (call.list !== list || count === MAX_RUN) {
        list = call.list;
        count = 0;
        args.push(indexOf(call.list), indexOf(call.wake), 0);
        runs.push({ first: i, countAt: args.length - 1 });
      }
      args.push(call.json);
      args[runs[runs.length - 1]!.countAt] = ++count;
    }
    this.#ctx
      .run('publish', () =>
        runScriptReplicated(
          this.#ctx.client,
          this.#ctx.scripts.publish,
          keys,
          args,
          this.#ctx.options.wait,
        ),
      )
      .then(
        (replies) => {
          for (let r = 0; r < runs.length; r++) {
            const end = r + 1 < runs.length ? runs[r + 1]!.first : batch.length;
            const reply = replies[r];
            const err = typeof reply === 'number' ? undefined : new Error(String(reply));
            for (let i = runs[r]!.first; i < end; i++) {
              if (err) batch[i]!.reject(err);
              else batch[i]!.resolve();
            }
          }
        },
        (err: unknown) => {
          for (const p of batch) p.reject(err);
        },
      );
  }
}
