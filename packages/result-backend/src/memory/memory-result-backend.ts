import {
  CeleriacError,
  ErrorCodes,
  isReadyState,
  jsonSerializer,
  systemClock,
  type Clock,
  type ResultBackend,
  type ResultDocument,
  type StoreOptions,
  type WaitOptions,
} from '@celeriac/core';
import {
  optionChecks,
  optionTypes as t,
  type OptionType,
  DEFAULT_RESULT_EXPIRES_MS,
  waitTimeoutError,
} from '@celeriac/core/internal';
import { parseMemoryUrl } from '@celeriac/broker/memory/internal';

/**
 * Options of a {@link MemoryResultBackend}. Backends that name the same namespace share its
 * documents; the clock belongs to the namespace and is fixed by the first backend that opens
 * it (a later backend passing a different one is refused).
 */
export interface MemoryResultBackendOptions {
  /**
   * `memory://` names the process-wide default namespace, `memory://<name>` a named one. A
   * worker storing and a client waiting in one process see each other's documents when they
   * name the same namespace.
   * @default 'memory://'
   */
  url?: string;
  /**
   * The source of "now" for expiry.
   * @default systemClock
   */
  clock?: Clock;
  /**
   * How long a stored document lives when `store()` is not told otherwise, in milliseconds
   * (Celery's `result_expires`).
   * @default DEFAULT_RESULT_EXPIRES_MS (one day)
   */
  resultExpiresMs?: number;
}

interface CompiledOptions {
  readonly namespace: string;
  readonly clock: Clock | undefined;
  readonly resultExpiresMs: number;
}

/** Expired documents are swept at most this often, during a store (no timers to leak). */
const SWEEP_INTERVAL_MS = 60_000;

function invalid(option: string, problem: string): CeleriacError {
  return new CeleriacError(ErrorCodes.INVALID_OPTION, `MemoryResultBackend: ${option} ${problem}`, {
    details: { option },
  });
}

/** Rejections carry Errors; an AbortSignal's reason (or a thrown value) may be anything. */
function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value), { cause: value });
}

function checkDuration(value: number, option: string): number {
  if (!Number.isFinite(value) || value <= 0)
    throw invalid(option, `must be a positive number of milliseconds, got ${value}`);
  return value;
}

const SPEC = {
  url: t.string,
  clock: t.object,
  resultExpiresMs: t.positive,
} as const satisfies { readonly [K in keyof Required<MemoryResultBackendOptions>]: OptionType };

function compileOptions(o: MemoryResultBackendOptions): CompiledOptions {
  optionChecks('MemoryResultBackend').strict(o, SPEC, {
    renamed: { resultExpires: 'resultExpiresMs' },
  });
  return {
    namespace: parseMemoryUrl(o.url ?? 'memory://', 'MemoryResultBackend'),
    clock: o.clock,
    resultExpiresMs: checkDuration(
      o.resultExpiresMs ?? DEFAULT_RESULT_EXPIRES_MS,
      'resultExpiresMs',
    ),
  };
}

/** Documents are copied in and out, so no caller sees another's later mutation. */
function copyDoc(doc: ResultDocument): ResultDocument {
  return structuredClone(doc);
}

/**
 * Documents go in through the JSON serializer, as they would into Redis: a Date reads back
 * as its ISO string, and a value Redis could not take (a bigint beyond 2^53, a cycle) fails
 * here too with `CELERIAC_ERR_SERIALIZATION`, so code tested on memory behaves the same on Redis.
 */
function encodeDoc(doc: ResultDocument): ResultDocument {
  try {
    return jsonSerializer.decode(jsonSerializer.encode(doc)) as ResultDocument;
  } catch (err) {
    throw new CeleriacError(
      ErrorCodes.SERIALIZATION,
      `MemoryResultBackend: the result of task ${doc.task_id} cannot be stored as JSON: ${(err as Error).message}`,
      { cause: err, details: { taskId: doc.task_id } },
    );
  }
}

function checkTaskId(taskId: string): void {
  if (typeof taskId !== 'string' || taskId === '')
    throw invalid('taskId', 'must be a non-empty string');
}

interface Entry {
  readonly doc: ResultDocument;
  readonly expiresAt: number;
}

interface Waiter {
  resolve(doc: ResultDocument): void;
  reject(err: unknown): void;
}

/** The shared in-process store behind every backend of one namespace. */
class ResultSpace {
  readonly #docs = new Map<string, Entry>();
  readonly waiters = new Map<string, Set<Waiter>>();
  #lastSweep: number;
  backends = 0;

  constructor(
    readonly name: string,
    readonly clock: Clock,
  ) {
    this.#lastSweep = clock.now();
  }

  /** The live document, dropping it when expired (lazy expiry: no timer per document). */
  read(taskId: string): ResultDocument | undefined {
    const entry = this.#docs.get(taskId);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.clock.now()) {
      this.#docs.delete(taskId);
      return undefined;
    }
    return entry.doc;
  }

  write(doc: ResultDocument, expiresMs: number): void {
    const now = this.clock.now();
    this.#maybeSweep(now);
    // A SUCCESS is final: a redelivered task that runs again cannot replace it.
    if (this.read(doc.task_id)?.status === 'SUCCESS') return;
    this.#docs.set(doc.task_id, { doc, expiresAt: now + expiresMs });
    if (!isReadyState(doc.status)) return;
    const waiters = this.waiters.get(doc.task_id);
    if (waiters === undefined) return;
    for (const w of [...waiters]) w.resolve(copyDoc(doc));
  }

  delete(taskId: string): void {
    this.#docs.delete(taskId);
  }

  get isEmpty(): boolean {
    this.#sweep(this.clock.now());
    return this.#docs.size === 0 && this.waiters.size === 0;
  }

  #maybeSweep(now: number): void {
    if (now - this.#lastSweep >= SWEEP_INTERVAL_MS) this.#sweep(now);
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [id, entry] of this.#docs) if (entry.expiresAt <= now) this.#docs.delete(id);
  }
}

const namespaces = new Map<string, ResultSpace>();

function openSpace(o: CompiledOptions): ResultSpace {
  const existing = namespaces.get(o.namespace);
  if (existing !== undefined) {
    if (o.clock !== undefined && o.clock !== existing.clock) {
      throw invalid(
        'clock',
        `differs from the one memory://${o.namespace} was opened with; backends sharing a namespace share its clock (use another memory://<name>)`,
      );
    }
    existing.backends++;
    return existing;
  }
  const space = new ResultSpace(o.namespace, o.clock ?? systemClock);
  space.backends = 1;
  namespaces.set(o.namespace, space);
  return space;
}

function releaseSpace(space: ResultSpace): void {
  space.backends--;
  // Documents outlive their backends (a worker may close before its client reads); an empty
  // namespace is dropped so test namespaces do not pile up.
  if (space.backends <= 0 && space.isEmpty && namespaces.get(space.name) === space) {
    namespaces.delete(space.name);
  }
}

/** One backend's view of a namespace: its pending waits and its open state. */
class Session {
  readonly waiters = new Set<Waiter>();
  closed = false;

  constructor(readonly space: ResultSpace) {}

  assertOpen(): void {
    if (this.closed) {
      throw new CeleriacError(
        ErrorCodes.CLOSED,
        `MemoryResultBackend (memory://${this.space.name}) is closed`,
      );
    }
  }
}

/**
 * An in-process result backend: Celery's result documents with real expiry, a SUCCESS that is
 * never overwritten, and `waitFor` woken by the store itself (push, no polling). Backends on the
 * same `memory://<name>` share documents, so a worker and a client in one process meet.
 *
 * @example
 * ```ts
 * const backend = new MemoryResultBackend({ url: 'memory://app' });
 * const done = backend.waitFor(taskId, { timeoutMs: 5000 });
 * await backend.store(buildResultDocument({ taskId, status: 'SUCCESS', result: 5 }));
 * (await done).result; // 5
 * ```
 */
export class MemoryResultBackend implements ResultBackend {
  readonly kind = 'memory' as const;
  readonly #session: Session;
  readonly #resultExpiresMs: number;

  constructor(options: MemoryResultBackendOptions = {}) {
    const o = compileOptions(options);
    this.#session = new Session(openSpace(o));
    this.#resultExpiresMs = o.resultExpiresMs;
  }

  /** The namespace this backend shares with others opened on the same `memory://<name>`. */
  get namespace(): string {
    return this.#session.space.name;
  }

  async store(doc: ResultDocument, options: StoreOptions = {}): Promise<void> {
    this.#session.assertOpen();
    if (typeof doc !== 'object' || doc === null) throw invalid('doc', 'must be a result document');
    checkTaskId(doc.task_id);
    if (typeof doc.status !== 'string' || doc.status === '')
      throw invalid('doc.status', 'must be a state name');
    const expiresMs = checkDuration(options.expiresMs ?? this.#resultExpiresMs, 'expiresMs');
    this.#session.space.write(encodeDoc(doc), expiresMs);
    // Store first, then ack: a crash between the two redelivers the task, whose second result
    // cannot replace a SUCCESS. There is no round trip to fuse here.
    if (options.ack !== undefined) await options.ack.ack();
  }

  get(taskId: string): Promise<ResultDocument | null> {
    return this.#run(() => {
      checkTaskId(taskId);
      const doc = this.#session.space.read(taskId);
      return doc === undefined ? null : copyDoc(doc);
    });
  }

  getMany(taskIds: readonly string[]): Promise<(ResultDocument | null)[]> {
    return this.#run(() =>
      taskIds.map((taskId) => {
        checkTaskId(taskId);
        const doc = this.#session.space.read(taskId);
        return doc === undefined ? null : copyDoc(doc);
      }),
    );
  }

  waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultDocument> {
    const { timeoutMs, signal } = options;
    try {
      this.#session.assertOpen();
      checkTaskId(taskId);
      if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs < 0)) {
        throw invalid(
          'timeoutMs',
          `must be a non-negative number of milliseconds, got ${timeoutMs}`,
        );
      }
    } catch (err) {
      return Promise.reject(asError(err));
    }
    if (signal?.aborted === true) return Promise.reject(asError(signal.reason));
    const current = this.#session.space.read(taskId);
    if (current !== undefined && isReadyState(current.status))
      return Promise.resolve(copyDoc(current));

    const session = this.#session;
    const space = session.space;
    return new Promise<ResultDocument>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => finish(() => reject(asError(signal?.reason)));
      const finish = (settle: () => void): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        session.waiters.delete(waiter);
        const set = space.waiters.get(taskId);
        set?.delete(waiter);
        if (set?.size === 0) space.waiters.delete(taskId);
        settle();
      };
      const waiter: Waiter = {
        resolve: (doc) => finish(() => resolve(doc)),
        reject: (err) => finish(() => reject(asError(err))),
      };
      session.waiters.add(waiter);
      let set = space.waiters.get(taskId);
      if (set === undefined) {
        set = new Set();
        space.waiters.set(taskId, set);
      }
      set.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          waiter.reject(waitTimeoutError(taskId, timeoutMs));
        }, timeoutMs);
      }
    });
  }

  forget(taskId: string): Promise<void> {
    return this.#run(() => {
      checkTaskId(taskId);
      this.#session.space.delete(taskId);
    });
  }

  /** Rejects this backend's pending waits with `CELERIAC_ERR_CLOSED`. Idempotent. */
  close(): Promise<void> {
    const session = this.#session;
    if (session.closed) return Promise.resolve();
    session.closed = true;
    for (const w of [...session.waiters]) {
      w.reject(
        new CeleriacError(
          ErrorCodes.CLOSED,
          `MemoryResultBackend (memory://${session.space.name}) was closed while waiting`,
        ),
      );
    }
    releaseSpace(session.space);
    return Promise.resolve();
  }

  #run<T>(fn: () => T): Promise<T> {
    try {
      this.#session.assertOpen();
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }
}
