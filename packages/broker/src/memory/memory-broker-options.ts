import { CeleriacError, ErrorCodes, type BrokerMessage, type Clock } from '@celeriac/core';
import { type OptionType, optionChecks, optionTypes as t } from '@celeriac/core/internal';
import { parseMemoryUrl } from './memory-url.js';

/**
 * Options of a {@link MemoryBroker}. Brokers that name the same namespace share its queues, so
 * the settings that belong to the queues (clock, dead-letter bounds) are fixed by the first
 * broker that opens the namespace; a later broker passing a different value is refused.
 */
export interface MemoryBrokerOptions {
  /**
   * `memory://` names the process-wide default namespace, `memory://<name>` a named one. Every
   * `MemoryBroker` of one namespace sees the same queues, the way a client and a worker see
   * the same Redis.
   * @default 'memory://'
   */
  url?: string;
  /**
   * The source of "now" for `deliverAt` and dead-letter ages. Real timers wake the broker; a
   * clock that runs ahead of them (a `ManualClock` moved by a test) is read again on every
   * broker call, so due messages become ready as soon as anyone looks.
   * @default systemClock
   */
  clock?: Clock;
  /**
   * Dead letters kept per queue; beyond it the oldest are dropped.
   * @default 10000
   */
  deadLetterLimit?: number;
  /**
   * How long a dead letter is kept, in milliseconds.
   * @default 604800000 (seven days)
   */
  deadLetterTtlMs?: number;
}

/**
 * `MemoryBrokerOptions` checked, the URL read as a namespace. The settings stay undefined when
 * not given: the namespace's own (set by its first broker) apply then.
 */
export interface CompiledMemoryBrokerOptions {
  readonly namespace: string;
  readonly clock: Clock | undefined;
  readonly deadLetterLimit: number | undefined;
  readonly deadLetterTtlMs: number | undefined;
}

/** `CELERIAC_ERR_INVALID_OPTION` for an option or an argument of a `MemoryBroker` call. */
export function invalid(option: string, problem: string): CeleriacError {
  return new CeleriacError(ErrorCodes.INVALID_OPTION, `MemoryBroker: ${option} ${problem}`, {
    details: { option },
  });
}

function positiveInteger(value: number | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value <= 0)
    throw invalid(option, `must be a positive integer, got ${value}`);
  return value;
}

const SPEC = {
  url: t.string,
  clock: t.object,
  deadLetterLimit: t.positiveInteger,
  deadLetterTtlMs: t.positiveInteger,
} as const satisfies { readonly [K in keyof Required<MemoryBrokerOptions>]: OptionType };

const { strict } = optionChecks('MemoryBroker');

/** Checks `MemoryBrokerOptions` and reads the URL's namespace. */
export function compileMemoryBrokerOptions(o: MemoryBrokerOptions): CompiledMemoryBrokerOptions {
  strict(o, SPEC, { renamed: { deadLetterTtl: 'deadLetterTtlMs' } });
  return {
    namespace: parseMemoryUrl(o.url ?? 'memory://', 'MemoryBroker'),
    clock: o.clock,
    deadLetterLimit: positiveInteger(o.deadLetterLimit, 'deadLetterLimit'),
    deadLetterTtlMs: positiveInteger(o.deadLetterTtlMs, 'deadLetterTtlMs'),
  };
}

/** Throws unless `m` looks like a `BrokerMessage` (the broker copies and keeps it). */
export function checkMessage(m: BrokerMessage): void {
  if (typeof m !== 'object' || m === null) throw invalid('message', 'must be a BrokerMessage');
  if (!Buffer.isBuffer(m.body)) throw invalid('message.body', 'must be a Buffer');
  if (typeof m.contentType !== 'string') throw invalid('message.contentType', 'must be a string');
}

/** Throws unless `queue` is a non-empty string. */
export function checkQueue(queue: string): void {
  if (typeof queue !== 'string' || queue === '')
    throw invalid('queue', 'must be a non-empty string');
}
