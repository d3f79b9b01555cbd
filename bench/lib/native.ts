/**
 * The peer of the backlog and lag measurements: PostgreSQL's own logical replication (a publication at A, a
 * subscription in another database of B that holds a pg_dump copy of the source tables).
 */
import type { TwoDc } from '../../test/helpers/two-dc.ts';
import { pgBin } from '../../tools/local/postgres.ts';
import type { Children } from './proc.ts';
import { Conn, connValue, exec, pollUntil } from './db.ts';

export const NATIVE_DB = 'bench_native';
export const NATIVE_PUB = 'bench_native_pub';
export const NATIVE_SLOT = 'bench_native_slot';
export const NATIVE_SUB = 'bench_native_sub';

export class NativePeer {
  /** Cluster B, database postgres (pg_subscription and the replication origins are shared catalogs). */
  readonly b: Conn;
  #copied = false;
  #subscribed = false;

  constructor(
    private readonly env: TwoDc,
    private readonly children: Children,
    private readonly sourceDb: string,
    private readonly tables: readonly string[],
  ) {
    this.b = new Conn(env.pgB.url('postgres'));
  }

  get targetUrl(): string {
    return this.env.pgB.url(NATIVE_DB);
  }

  get hasCopy(): boolean {
    return this.#copied;
  }

  get subscribed(): boolean {
    return this.#subscribed;
  }

  /** Takes over a copy made by the initial-sync peer (same tables, made while the source was unchanged). */
  async adopt(database: string): Promise<void> {
    await this.b.query(`ALTER DATABASE "${database}" RENAME TO "${NATIVE_DB}"`);
    this.#copied = true;
  }

  /** pg_dump of the benchmark's tables into a fresh database on B (untimed; the source must be quiet). */
  async makeCopy(signal: AbortSignal): Promise<void> {
    await this.b.query(`CREATE DATABASE "${NATIVE_DB}" TEMPLATE template0 ENCODING 'UTF8'`);
    const tables = this.tables.map((t) => `-t '${t}'`).join(' ');
    await this.children.shell(`"${pgBin('pg_dump')}" -d "$SRC" ${tables} | "${pgBin('psql')}" -X -q -v ON_ERROR_STOP=1 -d "$DST" >/dev/null`, {
      env: { SRC: this.env.pgA.url(this.sourceDb), DST: this.targetUrl },
      signal,
    });
    this.#copied = true;
  }

  /**
   * Publication and logical slot at A (the slot starts here: the copy must equal the source now), a disabled
   * subscription on B that uses that slot and copies nothing.
   */
  async subscribe(): Promise<void> {
    if (this.#subscribed) return;
    if (!this.#copied) throw new Error('the native peer needs its copy before subscribing');
    await exec(
      this.env.pgA.url(this.sourceDb),
      `CREATE PUBLICATION ${NATIVE_PUB} FOR TABLE ${this.tables.join(', ')}`,
      `SELECT pg_create_logical_replication_slot('${NATIVE_SLOT}', 'pgoutput')`,
    );
    const a = this.env.pgA;
    const conninfo = `host=${connValue(a.host)} port=${a.port} dbname=${connValue(this.sourceDb)} user=${connValue(a.superuser)} password=${connValue(a.password)}`;
    await exec(
      this.targetUrl,
      `CREATE SUBSCRIPTION ${NATIVE_SUB} CONNECTION '${conninfo.replace(/'/g, "''")}' PUBLICATION ${NATIVE_PUB}
         WITH (create_slot = false, slot_name = '${NATIVE_SLOT}', enabled = false, copy_data = false)`,
    );
    this.#subscribed = true;
  }

  async enable(): Promise<void> {
    await exec(this.targetUrl, `ALTER SUBSCRIPTION ${NATIVE_SUB} ENABLE`);
  }

  /** Disables the subscription and waits until its apply worker has gone. */
  async disable(signal: AbortSignal): Promise<void> {
    if (!this.#subscribed) return;
    await exec(this.targetUrl, `ALTER SUBSCRIPTION ${NATIVE_SUB} DISABLE`);
    await pollUntil(
      async () => (await this.b.query(`SELECT 1 FROM pg_stat_subscription WHERE subname = $1 AND pid IS NOT NULL`, [NATIVE_SUB])).length === 0,
      { what: 'the native apply worker to exit', intervalMs: 100, timeoutMs: 30_000, signal },
    );
  }

  /**
   * The subscription's replication origin holds the end LSN of the last source commit applied (written in the
   * same target transaction as its data). `lsn` is a source insert position taken before a transaction: that
   * transaction is applied when remote_lsn is strictly after it (the commit before ends exactly at it), and so is
   * `moved` after `from`.
   */
  async progress(lsn: string, from: string): Promise<{ reached: boolean; moved: boolean }> {
    const r = await this.b.query<{ reached: boolean; moved: boolean }>(
      `SELECT s.remote_lsn > $2::pg_lsn AS reached, s.remote_lsn > $3::pg_lsn AS moved
         FROM pg_replication_origin_status s JOIN pg_subscription sub ON s.external_id = 'pg_' || sub.oid
        WHERE sub.subname = $1`,
      [NATIVE_SUB, lsn, from],
    );
    return { reached: r[0]?.reached === true, moved: r[0]?.moved === true };
  }

  async waitCaughtUp(lsn: string, signal: AbortSignal, timeoutMs = 600_000, intervalMs = 50): Promise<number> {
    return pollUntil(async () => (await this.progress(lsn, lsn)).reached, { what: `the native subscription past ${lsn}`, intervalMs, timeoutMs, signal });
  }

  async close(): Promise<void> {
    await this.b.close();
  }
}
