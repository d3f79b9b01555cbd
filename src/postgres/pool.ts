/**
 * A small pool of PostgreSQL sessions for the master's state, opened through connect() (the one place that opens
 * connections, so TLS, pinned settings and error classification are the same as everywhere else).
 *
 * Every session is bounded: connecting gives up after connectTimeoutMs, every query after queryTimeoutMs (the
 * client stops waiting and drops the session), and the server ends statements, lock waits and idle transactions
 * that take too long (statement_timeout, lock_timeout, idle_in_transaction_session_timeout). A session that saw
 * anything but an ordinary SQL error (connection lost, timed out) is discarded instead of reused.
 */
import type pg from 'pg';
import { ConnectionLostError, DcsyncError, IllegalStateError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { connect } from './connection.ts';
import { classifyPgError } from './errors.ts';

export interface PgPoolOptions {
  readonly url: string;
  /** Database to use instead of the URL's. */
  readonly database?: string;
  readonly applicationName: string;
  /** Sessions open at most at once. */
  readonly max: number;
  readonly connectTimeoutMs: number;
  readonly queryTimeoutMs: number;
  /** statement_timeout of the sessions; default queryTimeoutMs minus a little. */
  readonly statementTimeoutMs?: number;
  /** lock_timeout of the sessions; default half of the statement timeout. */
  readonly lockTimeoutMs?: number;
  /** Sessions idle longer than this are closed; default 30 s. */
  readonly idleMs?: number;
  readonly log: Logger;
}

/** What a query runs on: a pooled session, or the session of a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>>;
}

/** The pool was closed; nothing more can be asked of it. */
export class PoolClosedError extends DcsyncError {
  constructor() {
    super('the connection pool is closed');
  }
}

interface Session {
  readonly client: pg.Client;
  broken: boolean;
  idleTimer?: NodeJS.Timeout;
}

/** Whether an error leaves the session usable: only errors the server sent (with a SQLSTATE) do. */
function isServerError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && !code.startsWith('57P');
}

export class PgPool {
  readonly #o: Required<Omit<PgPoolOptions, 'database'>> & { database?: string };
  readonly #idle: Session[] = [];
  readonly #waiters: ((s: Session | Error) => void)[] = [];
  readonly #open = new Set<Session>();
  #opening = 0;
  #closed = false;

  constructor(o: PgPoolOptions) {
    if (!(o.max >= 1)) throw new RangeError('max must be at least 1');
    const statementTimeoutMs = o.statementTimeoutMs ?? Math.max(100, o.queryTimeoutMs - 500);
    this.#o = {
      ...o,
      statementTimeoutMs,
      lockTimeoutMs: o.lockTimeoutMs ?? Math.max(50, Math.floor(statementTimeoutMs / 2)),
      idleMs: o.idleMs ?? 30_000,
    };
  }

  /** Runs one statement on some session. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: readonly unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.withSession((q) => q.query<R>(text, values));
  }

  /** Runs `fn` in a transaction (READ COMMITTED): committed when it returns, rolled back when it throws. */
  async transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.withSession(async (q) => {
      await q.query('BEGIN');
      let result: T;
      try {
        result = await fn(q);
      } catch (err) {
        await q.query('ROLLBACK').catch(() => {});
        throw err;
      }
      await q.query('COMMIT');
      return result;
    });
  }

  /** Lends a session to `fn`; returns it to the pool afterwards unless it broke. */
  async withSession<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const session = await this.#acquire();
    const q: Queryable = {
      query: async <R extends pg.QueryResultRow>(text: string, values: readonly unknown[] = []) => {
        if (session.broken) throw new ConnectionLostError('the PostgreSQL session was dropped after an earlier failure');
        try {
          // query_timeout is honoured by node-postgres per query but missing from its type declarations.
          return await session.client.query<R>({ text, values: values as unknown[], query_timeout: this.#o.queryTimeoutMs } as pg.QueryConfig);
        } catch (err) {
          if (!isServerError(err)) session.broken = true;
          const message = (err as Error | undefined)?.message ?? '';
          if (/Query read timeout/.test(message)) throw new ConnectionLostError(`PostgreSQL did not answer within ${this.#o.queryTimeoutMs} ms`, err);
          throw classifyPgError(err);
        }
      },
    };
    try {
      return await fn(q);
    } finally {
      this.#release(session);
    }
  }

  /** Closes every session; calls waiting for a session fail with PoolClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w(new PoolClosedError());
    const all = [...this.#open];
    this.#idle.length = 0;
    await Promise.all(all.map((s) => this.#end(s)));
  }

  async #acquire(): Promise<Session> {
    if (this.#closed) throw new PoolClosedError();
    const idle = this.#idle.pop();
    if (idle) {
      clearTimeout(idle.idleTimer);
      return idle;
    }
    if (this.#open.size + this.#opening < this.#o.max) return this.#openSession();
    const got = await new Promise<Session | Error>((resolve) => this.#waiters.push(resolve));
    if (got instanceof Error) throw got;
    return got;
  }

  async #openSession(): Promise<Session> {
    this.#opening++;
    try {
      const client = await this.#connectWithTimeout();
      const session: Session = { client, broken: false };
      client.on('error', () => (session.broken = true));
      client.on('end', () => (session.broken = true));
      this.#open.add(session);
      try {
        await client.query(
          `SET statement_timeout = ${Math.round(this.#o.statementTimeoutMs)}; SET lock_timeout = ${Math.round(this.#o.lockTimeoutMs)}; ` +
            `SET idle_in_transaction_session_timeout = ${Math.round(this.#o.statementTimeoutMs * 2)}; SET default_transaction_read_only = off`,
        );
      } catch (err) {
        session.broken = true;
        this.#release(session);
        throw classifyPgError(err);
      }
      if (this.#closed) {
        await this.#end(session);
        throw new PoolClosedError();
      }
      return session;
    } finally {
      this.#opening--;
    }
  }

  /** connect() cannot be told a timeout: stop waiting after connectTimeoutMs and close the session if it comes later. */
  async #connectWithTimeout(): Promise<pg.Client> {
    const pending = connect({ url: this.#o.url, ...(this.#o.database !== undefined ? { database: this.#o.database } : {}), applicationName: this.#o.applicationName });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ConnectionLostError(`PostgreSQL did not accept a connection within ${this.#o.connectTimeoutMs} ms`)), this.#o.connectTimeoutMs);
    });
    try {
      return await Promise.race([pending, timeout]);
    } catch (err) {
      pending.then((c) => c.end()).catch(() => {});
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  #release(session: Session): void {
    if (session.broken || this.#closed) {
      void this.#end(session);
      // A waiter may now open a session of its own.
      const w = this.#waiters.shift();
      if (w && !this.#closed) this.#openSession().then(w, (err: unknown) => w(err instanceof Error ? err : new IllegalStateError(String(err))));
      return;
    }
    const w = this.#waiters.shift();
    if (w) {
      w(session);
      return;
    }
    session.idleTimer = setTimeout(() => {
      const i = this.#idle.indexOf(session);
      if (i >= 0) {
        this.#idle.splice(i, 1);
        void this.#end(session);
      }
    }, this.#o.idleMs);
    session.idleTimer.unref();
    this.#idle.push(session);
  }

  async #end(session: Session): Promise<void> {
    clearTimeout(session.idleTimer);
    if (!this.#open.delete(session)) return;
    // end() waits for the server to close the socket; do not wait long for a server that does not answer.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([session.client.end().catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, 2_000)))]);
    clearTimeout(timer);
  }
}
