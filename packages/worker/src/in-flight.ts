import type { Delivery, TaskMessage } from '@celeriac/core';

/**
 * A delivery that holds one of the worker's concurrency slots, from the slot to its settle
 * (admitted, run, stored, acked or requeued). One plain object per message, mutated in place:
 * the hot path makes no other record of it.
 */
export interface InFlight {
  readonly delivery: Delivery;
  /** Its place in the worker's running set (`Slots`). */
  slot: number;
  /** Created on first use of the task's signal: most tasks never look at it. */
  controller: AbortController | undefined;
  readonly done: Promise<void>;
  /** Given up on (shutdown timeout, abort): requeued; its outcome is not recorded. */
  abandoned: boolean;
  /** Acked before the run (acksLate: false); later stores must not ack again. */
  acked: boolean;
  /** The task id once decoded, for revocation with terminate. */
  taskId?: string;
  /** The message once its run started, and when (epoch ms), for `celery inspect active`. */
  msg: TaskMessage | undefined;
  startedAt: number;
  /**
   * The run of the task function, once started: revocation with terminate ends it; giving
   * up on the message stops its time-limit timers.
   */
  execution?: { terminate(): void; abandon(): void } | undefined;
  /** Waiting for a rate-limit slot: not counted as processed. */
  parked?: boolean;
}

/** A new entry for a delivery that just got a slot. */
export function inFlight(delivery: Delivery): InFlight {
  return {
    delivery,
    slot: -1,
    controller: undefined,
    done: Promise.resolve(),
    abandoned: false,
    acked: false,
    msg: undefined,
    startedAt: 0,
  };
}

/** The delivery a store acks with, unless the message was already acked before its run. */
export function ackOf(entry: InFlight): Delivery | undefined {
  return entry.acked ? undefined : entry.delivery;
}
