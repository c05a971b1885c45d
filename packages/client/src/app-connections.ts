import { createBroker } from '@celeriac/broker';
import { createCoordination } from '@celeriac/broker/coordination';
import {
  CeleriacError,
  ErrorCodes,
  type Broker,
  type Clock,
  type Coordination,
  type Logger,
  type ResultBackend,
} from '@celeriac/core';
import { redactUrl } from '@celeriac/core/internal';
import { createResultBackend } from '@celeriac/result-backend';
import {
  urlScheme,
  type CeleriacOptions,
  type CompiledCeleriacOptions,
} from './celeriac-options.js';

/** Broker options a coordination store on the broker's own URL takes as well. */
const SHARED_WITH_COORDINATION = ['redisOptions', 'busyTimeoutMs', 'pollIntervalMs'] as const;

/** What the connections read of their app; read at first use, after any `overrideUrls()`. */
export interface ConnectionSource {
  readonly raw: CeleriacOptions;
  readonly options: CompiledCeleriacOptions;
  readonly logger: Logger;
  readonly clock: Clock;
}

/** One connection, opened on first use; closed by the app only if the app created it. */
class Lazy<T extends { close(): Promise<void> }> {
  readonly #given: () => T | undefined;
  readonly #create: () => Promise<T>;
  #opened: Promise<T> | undefined;
  #owned = false;

  constructor(given: () => T | undefined, create: () => Promise<T>) {
    this.#given = given;
    this.#create = create;
  }

  get opened(): boolean {
    return this.#opened !== undefined;
  }

  get(): Promise<T> {
    this.#opened ??= (async () => {
      const given = this.#given();
      if (given) return given;
      this.#owned = true;
      return this.#create();
    })();
    return this.#opened;
  }

  close(): Promise<void> {
    if (!this.#opened || !this.#owned) return Promise.resolve();
    return this.#opened.then(
      (c) => c.close(),
      () => undefined,
    );
  }
}

const instance = <T>(value: unknown): T | undefined =>
  value && typeof value === 'object' ? (value as T) : undefined;

/**
 * The app's broker, result backend and coordination store: each created from the app's URLs
 * and driver options on first use (or the instance the app was given), and closed with the
 * app only when the app created it.
 */
export class AppConnections {
  readonly broker: Lazy<Broker>;
  readonly backend: Lazy<ResultBackend>;
  readonly coordination: Lazy<Coordination>;

  constructor(app: ConnectionSource) {
    this.broker = new Lazy(
      () => instance<Broker>(app.raw.broker),
      () =>
        createBroker(app.options.brokerUrl ?? 'memory://', {
          logger: app.logger,
          clock: app.clock,
          ...app.raw.brokerOptions,
        }),
    );
    this.backend = new Lazy(
      () => instance<ResultBackend>(app.raw.backend),
      () => createBackend(app),
    );
    this.coordination = new Lazy(
      () => instance<Coordination>(app.raw.coordination),
      () => createAppCoordination(app),
    );
  }

  /** True once any of them was asked for: the app's URLs can no longer change. */
  get connected(): boolean {
    return this.broker.opened || this.backend.opened || this.coordination.opened;
  }

  /** Closes those the app created. */
  async close(): Promise<void> {
    await Promise.all([this.broker.close(), this.backend.close(), this.coordination.close()]);
  }
}

async function createBackend(app: ConnectionSource): Promise<ResultBackend> {
  const url = app.options.backendUrl;
  if (url === false || url === undefined) {
    throw new CeleriacError(
      ErrorCodes.NO_RESULT_BACKEND,
      'this app has no result backend: pass `backend` (for example "redis://localhost:6379") to new Celeriac() or set CELERIAC_RESULT_BACKEND',
    );
  }
  return createResultBackend(url, {
    ...(app.options.brokerUrl ? { brokerUrl: app.options.brokerUrl } : {}),
    logger: app.logger,
    clock: app.clock,
    resultExpiresMs: app.options.resultExpiresMs,
    resultSerializer: app.options.resultSerializer,
    ...app.raw.backendOptions,
  });
}

async function createAppCoordination(app: ConnectionSource): Promise<Coordination> {
  const given = app.raw.coordination;
  const url = app.options.coordinationUrl ?? 'memory://';
  const { brokerUrl } = app.options;
  if (
    given === undefined &&
    urlScheme(url) === 'memory' &&
    brokerUrl !== undefined &&
    urlScheme(brokerUrl) !== 'memory'
  ) {
    app.logger.warn(
      { broker: redactUrl(brokerUrl) },
      "revocations, rate limits and unique tasks are kept in this process only: neither the broker nor the result backend is SQLite or Redis. Set the app option coordination: 'redis://…' (or 'sqlite://./celeriac.db' for workers on one host) to share them across workers",
    );
  }
  // A coordination store on the broker's URL shares its connection settings (Redis's
  // redisOptions, SQLite's busyTimeoutMs and pollIntervalMs), and nothing else of its options.
  const shared: Record<string, unknown> = {};
  const broker = app.raw.brokerOptions as Readonly<Record<string, unknown>> | undefined;
  if (url === brokerUrl && broker) {
    for (const key of SHARED_WITH_COORDINATION)
      if (broker[key] !== undefined) shared[key] = broker[key];
  }
  return createCoordination(url, { logger: app.logger, clock: app.clock, ...shared });
}
