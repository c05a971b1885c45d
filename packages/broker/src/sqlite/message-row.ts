// How a message is checked, stored and read back: the row format every part of the SQLite
// broker (publish, claim, dead letters, replay) shares.
import {
  CeleriacError,
  ErrorCodes,
  type BrokerMessage,
  type MessageProperties,
} from '@celeriac/core';
import { stepPriority } from '../step-priority.js';

/** What is stored beside the body: `[contentType, contentEncoding, headers, properties]`. */
export type Meta = [string, string, Record<string, unknown>, MessageProperties];

/** A message row as a claim reads it. */
export interface MessageRow {
  id: number;
  priority: number;
  ready_at: number;
  redelivered: number;
  meta: string;
  body: Buffer;
}

/** A message checked and encoded for insertion. */
export interface NewRow {
  readonly queue: string;
  readonly priority: number;
  /** `deliverAt`, when given. */
  readonly at: number | undefined;
  readonly meta: string;
  readonly body: Buffer;
}

/** `CELERIAC_ERR_INVALID_OPTION` for a bad argument of a broker call. */
export function invalid(option: string, problem: string): CeleriacError {
  return new CeleriacError(ErrorCodes.INVALID_OPTION, `SqliteBroker: ${option} ${problem}`, {
    details: { option },
  });
}

/** Refuses a queue name that is not a non-empty string. */
export function checkQueue(queue: unknown): asserts queue is string {
  if (typeof queue !== 'string' || queue === '')
    throw invalid('queue', `must be a non-empty string, got ${JSON.stringify(queue)}`);
}

/** Refuses what is not a `BrokerMessage`, before anything is written. */
export function checkMessage(m: BrokerMessage): void {
  if (typeof m !== 'object' || m === null) throw invalid('message', 'must be a BrokerMessage');
  if (!Buffer.isBuffer(m.body)) throw invalid('message.body', 'must be a Buffer');
  if (typeof m.contentType !== 'string') throw invalid('message.contentType', 'must be a string');
}

/** The priority a row is served at (0..9, lower first). */
export const priorityOf = stepPriority;

/** The `meta` column of a message: everything but its body, as JSON. */
export function encodeMeta(m: BrokerMessage): string {
  return JSON.stringify([m.contentType, m.contentEncoding, m.headers ?? {}, m.properties ?? {}]);
}

/** A stored row back as the message that was published. */
export function decodeMessage(meta: string, body: Buffer): BrokerMessage {
  const [contentType, contentEncoding, headers, properties] = JSON.parse(meta) as Meta;
  return { body, contentType, contentEncoding, headers, properties };
}

/** Rejections carry Errors, whatever was thrown. */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
