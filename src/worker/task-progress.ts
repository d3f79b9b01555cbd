/**
 * What a worker reports about its tasks (progress documents of control/v1/sync.ts): the source task tells its
 * position through a callback; a destination task's progress is read from the state it keeps in the target
 * database (target-state.ts), so the report shows exactly what is durable there.
 */
import { applicationsReadOnly } from '../postgres/read-only.ts';
import type pg from 'pg';
import { formatLsn } from '../core/lsn.ts';
import type { DestinationProgress, DestinationTableProgress, SourceProgress } from '../control/v1/sync.ts';
import { connect } from '../postgres/connection.ts';
import type { SourceTaskProgress } from '../source/source-task.ts';

/** Bounds the report (a database with thousands of tables): the rest is counted in `tablesOmitted`. */
const MAX_TABLES = 1000;

export function sourceProgress(p: SourceTaskProgress): SourceProgress {
  return {
    kind: 'source',
    snapshotComplete: p.snapshotComplete,
    lastDataLsn: p.lastData ? formatLsn(p.lastData.lsn) : null,
    lastDataTime: p.lastData ? new Date(Number(p.lastData.commitTimeUs / 1000n)).toISOString() : null,
    flushedLsn: formatLsn(p.flushedLsn),
    updatedAt: new Date().toISOString(),
  };
}

function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return (v instanceof Date ? v : new Date(String(v))).toISOString();
}

export async function queryDestinationProgress(c: pg.ClientBase, stream: string): Promise<DestinationProgress | undefined> {
  const exists = await c.query<{ ok: boolean }>(`SELECT to_regclass('dcsync.applied_position') IS NOT NULL AS ok`);
  if (!exists.rows[0]?.ok) return undefined;
  const sync = await c.query<{ snapshot_complete: boolean }>(`SELECT snapshot_complete FROM dcsync.target_sync WHERE sync_id = $1`, [stream]);
  if (sync.rows.length === 0) return undefined;
  const tables = await c.query<{ schema_name: string; table_name: string; status: DestinationTableProgress['status']; rows_copied: string; rows_total: string; error: string | null; n: string }>(
    `SELECT schema_name, table_name, status, rows_copied, rows_total, error, count(*) OVER () AS n
       FROM dcsync.target_tables WHERE sync_id = $1 ORDER BY (status = 'failed') DESC, schema_name, table_name LIMIT ${MAX_TABLES}`,
    [stream],
  );
  const pos = await c.query<{ lsn: string | null; commit_time: Date | null; applied_at: Date | null }>(
    `SELECT (SELECT lsn::text FROM dcsync.applied_position WHERE sync_id = $1 ORDER BY lsn DESC LIMIT 1) AS lsn,
            (SELECT commit_time FROM dcsync.applied_position WHERE sync_id = $1 ORDER BY lsn DESC LIMIT 1) AS commit_time,
            (SELECT max(applied_at) FROM dcsync.applied_position WHERE sync_id = $1) AS applied_at`,
    [stream],
  );
  const total = Number(tables.rows[0]?.n ?? 0);
  const p = pos.rows[0];
  const readOnly = await applicationsReadOnly(c, (await c.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db);
  return {
    kind: 'destination',
    snapshotComplete: sync.rows[0]!.snapshot_complete,
    readOnly,
    appliedLsn: p?.lsn ?? null,
    appliedCommitTime: iso(p?.commit_time),
    lastAppliedAt: iso(p?.applied_at),
    tables: tables.rows.map((t) => ({ schema: t.schema_name, name: t.table_name, status: t.status, rowsCopied: Number(t.rows_copied), rowsTotal: Number(t.rows_total), error: t.error })),
    tablesOmitted: Math.max(0, total - tables.rows.length),
    updatedAt: new Date().toISOString(),
  };
}

/**
 * Reads a destination task's progress from its target database every few seconds over one kept connection
 * (opened on first use, dropped after an error and opened again next time).
 */
export class DestinationProgressProbe {
  #client: pg.Client | undefined;
  #closed = false;

  constructor(private readonly o: { url: string; database: string; stream: string }) {}

  /** undefined while the target database or its state does not exist yet. */
  async read(): Promise<DestinationProgress | undefined> {
    if (this.#closed) return undefined;
    if (!this.#client) {
      let c: pg.Client;
      try {
        c = await connect({ url: this.o.url, database: this.o.database, applicationName: 'dcsync-worker-progress' });
      } catch (err) {
        if ((err as { code?: string }).code === '3D000') return undefined; // the database is not created yet
        throw err;
      }
      if (this.#closed) {
        await c.end().catch(() => {});
        return undefined;
      }
      this.#client = c;
    }
    try {
      return await queryDestinationProgress(this.#client, this.o.stream);
    } catch (err) {
      await this.#drop();
      throw err;
    }
  }

  /** The task ended: the connection is closed and no other is opened. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#drop();
  }

  async #drop(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    await c?.end().catch(() => {});
  }
}
