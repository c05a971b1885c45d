import { Client, Pool, types, type ClientConfig, type PoolClient, type QueryResultRow } from 'pg';
import { isRetryable, pgError } from './pg-errors.js';
import { schemaSql, type PgNames } from './schema.js';

type TypeId = Parameters<typeof types.getTypeParser>[0];
const INT8 = 20 as TypeId;
/** bigint[] (not in pg-types' enum). */
const INT8_ARRAY = 1016 as TypeId;
const parseInt8Array = types.getTypeParser(INT8_ARRAY) as (v: string) => string[];

/**
 * bigint columns as numbers: epoch milliseconds and counters stay far below 2^53. Set on this
 * store's connections only (pg's global parsers are the application's).
 */
const TYPES = {
  getTypeParser: ((oid: TypeId, format?: 'text' | 'binary') => {
    if (oid === INT8) return (v: string) => Number(v);
    if (oid === INT8_ARRAY) return (v: string) => parseInt8Array(v).map(Number);
    return (format === undefined ? types.getTypeParser(oid) : types.getTypeParser(oid, format)) as (
      v: string,
    ) => unknown;
  }) as typeof types.getTypeParser,
};

/** Attempts of a transaction that failed on a deadlock or a serialization failure. */
const TX_ATTEMPTS = 3;

export interface PgDatabaseOptions {
  readonly url: string;
  /** The URL with its password redacted, for messages. */
  readonly shownUrl: string;
  readonly names: PgNames;
  readonly schema: string;
  readonly tablePrefix: string;
  readonly poolSize: number;
  readonly connectTimeoutMs: number;
}

/**
 * The store's connections: a pool for queries and transactions, and (for `watch`) dedicated
 * clients opened on demand. Creates the tables on first use. Every failure comes out as a
 * `CeleriacError` (see `pg-errors.ts`).
 */
export class PgDatabase {
  readonly #o: PgDatabaseOptions;
  readonly #pool: Pool;
  #ready: Promise<void> | undefined;
  /** The last error of an idle connection, for messages. */
  lastError: Error | undefined;

  constructor(options: PgDatabaseOptions) {
    this.#o = options;
    this.#pool = new Pool({ ...this.clientConfig('celeriac-beat'), max: options.poolSize });
    // An idle connection that breaks (server restart) is dropped by the pool; keep the error
    // for messages instead of letting it crash the process as an unhandled 'error' event.
    this.#pool.on('error', (err: Error) => {
      this.lastError = err;
    });
  }

  clientConfig(applicationName: string): ClientConfig {
    return {
      connectionString: this.#o.url,
      connectionTimeoutMillis: this.#o.connectTimeoutMs,
      application_name: applicationName,
      types: TYPES,
      // TCP keepalive: a LISTEN connection that went half-open (a NAT or a host gone) is
      // noticed and reconnected instead of waiting for notifications forever.
      keepAlive: true,
      keepAliveInitialDelayMillis: 30_000,
    };
  }

  /** A new client of its own (LISTEN), not from the pool. */
  newClient(applicationName: string): Client {
    return new Client(this.clientConfig(applicationName));
  }

  fail(what: string, err: unknown): Error {
    return pgError(this.#o.shownUrl, what, err);
  }

  /**
   * Creates the schema and tables unless they exist. Concurrent first uses (several beats
   * starting together) are serialized by a transaction-level advisory lock: CREATE TABLE IF
   * NOT EXISTS alone can still fail on a race. When the tables exist nothing is created, so a
   * user with only SELECT/INSERT/UPDATE/DELETE on tables an owner created works too.
   */
  #ensureSchema(): Promise<void> {
    this.#ready ??= (async () => {
      const n = this.#o.names;
      const exists = await this.#pool.query<{ n: number }>(
        `SELECT count(to_regclass(t))::bigint AS n FROM unnest($1::text[]) AS t`,
        [[n.entries, n.lock, n.pending]],
      );
      if (exists.rows[0]?.n === 3) return;
      await this.#transaction(async (c) => {
        await c.query(`SELECT pg_advisory_xact_lock(hashtext('celeriac-beat-schema'))`);
        await c.query(schemaSql(this.#o.schema, this.#o.tablePrefix));
      });
    })().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  async query<R extends QueryResultRow>(
    what: string,
    sql: string,
    params: readonly unknown[],
  ): Promise<{ rows: R[]; rowCount: number }> {
    try {
      await this.#ensureSchema();
      const r = await this.#pool.query<R>(sql, params as unknown[]);
      return { rows: r.rows, rowCount: r.rowCount ?? 0 };
    } catch (err) {
      throw this.fail(what, err);
    }
  }

  /** Runs `fn` in one transaction (READ COMMITTED, row locks taken by the statements). */
  async tx<T>(what: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
    try {
      await this.#ensureSchema();
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.#transaction(fn);
        } catch (err) {
          if (attempt >= TX_ATTEMPTS || !isRetryable(err)) throw err;
        }
      }
    } catch (err) {
      throw this.fail(what, err);
    }
  }

  async #transaction<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw err;
    } finally {
      // A connection whose ROLLBACK failed is not given back to the pool.
      c.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.#pool.end().catch(() => undefined);
  }
}
