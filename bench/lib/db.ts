/** Small PostgreSQL helpers for the benchmark: a reconnecting connection, polling, fingerprint comparison. */
import pg from 'pg';
import { AbortedError, delay } from '../../src/core/time.ts';
import { databaseFingerprint, type TableFingerprint } from '../../test/helpers/compare.ts';

/** One lazily opened connection; any error closes it and the next query opens a new one. */
export class Conn {
  #client: pg.Client | undefined;

  constructor(readonly url: string) {}

  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    if (!this.#client) {
      // The bench writes its own objects into B's targets, which take no application writes while they sync.
      const c = new pg.Client({ connectionString: this.url, application_name: 'dcsync-bench', options: '-c default_transaction_read_only=off' });
      c.on('error', () => {}); // a dropped connection surfaces at the next query
      try {
        await c.connect();
      } catch (err) {
        await c.end().catch(() => {});
        throw err;
      }
      this.#client = c;
    }
    try {
      return (await this.#client.query<R>(sql, params)).rows;
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async one<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R> {
    const rows = await this.query<R>(sql, params);
    const row = rows[0];
    if (!row) throw new Error(`no row from: ${sql}`);
    return row;
  }

  async close(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    await c?.end().catch(() => {});
  }
}

/** Runs statements on a fresh connection (for one-off DDL). */
export async function exec(url: string, ...statements: string[]): Promise<void> {
  const c = new Conn(url);
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.close();
  }
}

export interface PollOptions {
  what: string;
  intervalMs: number;
  timeoutMs: number;
  signal: AbortSignal;
  /** Called before every attempt; throw to fail fast (e.g. a worker process died). */
  check?: () => void;
}

/**
 * Polls `cond` until it returns true and returns performance.now() of the attempt that saw it. An attempt that
 * throws counts as false (the table may not exist yet); the last error is named on timeout.
 */
export async function pollUntil(cond: () => Promise<boolean>, o: PollOptions): Promise<number> {
  const deadline = performance.now() + o.timeoutMs;
  let lastErr: unknown;
  for (;;) {
    if (o.signal.aborted) throw new AbortedError();
    o.check?.();
    const at = performance.now();
    try {
      if (await cond()) return at;
      lastErr = undefined;
    } catch (err) {
      lastErr = err;
    }
    if (performance.now() >= deadline) {
      const why = lastErr instanceof Error ? ` (last error: ${lastErr.message})` : '';
      throw new Error(`timed out after ${Math.round(o.timeoutMs / 1000)} s waiting for ${o.what}${why}`);
    }
    await delay(o.intervalMs, o.signal);
  }
}

export type Fingerprint = Map<string, TableFingerprint>;

/** Fingerprints without the tables of the given schemas (e.g. the benchmark's target-only schema). */
export async function fingerprint(url: string, ignoreSchemas: readonly string[] = []): Promise<Fingerprint> {
  const all = await databaseFingerprint(url);
  return new Map([...all].filter(([name]) => !ignoreSchemas.some((s) => name.startsWith(`${s}.`))));
}

/** The tables whose rows differ, as text lines; empty when equal. */
export function differences(source: Fingerprint, target: Fingerprint): string[] {
  const names = [...new Set([...source.keys(), ...target.keys()])].sort();
  const out: string[] = [];
  for (const n of names) {
    const s = source.get(n);
    const t = target.get(n);
    if (s?.md5 === t?.md5 && s?.rows === t?.rows) continue;
    out.push(`${n}: source ${s ? `${s.rows} rows` : 'missing'}, target ${t ? `${t.rows} rows` : 'missing'}${s && t && s.rows === t.rows ? ' (contents differ)' : ''}`);
  }
  return out;
}

export function totalRows(f: Fingerprint): number {
  let n = 0;
  for (const t of f.values()) n += t.rows;
  return n;
}

/** Quotes a value for a libpq connection string (key='value'). */
export function connValue(v: string | number): string {
  return `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The URL of another database on the same cluster. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + encodeURIComponent(database);
  return u.toString();
}
