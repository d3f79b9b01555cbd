import type pg from 'pg';
import { formatLsn, parseLsn, type Lsn } from '../core/lsn.ts';
import { tableKey, type TableId } from '../model/change.ts';
import type { SourceTable } from './catalog.ts';

/**
 * What a source task has made durable, kept in the source cluster's maintenance database (schema dcsync),
 * so that a restarted task neither loses nor needlessly repeats work: the slot, whether the schema record was
 * produced, which tables' copies are complete in Kafka, and whether the whole initial copy is.
 */
export interface SourceProgress {
  slot: string;
  consistentLsn: Lsn;
  schemaSent: boolean;
  postData: string;
  snapshotComplete: boolean;
  doneTables: Map<string, { snapshotLsn: Lsn; rows: number }>;
  /** The tables as announced with the initial copy (what the destination holds); undefined before it was recorded. */
  announced: SourceTable[] | undefined;
  /** Per oid, the update + delete counters of the tables without identity when the sync started. */
  keylessBaseline: Map<number, number> | undefined;
}

export const SOURCE_STATE_DDL = `
CREATE SCHEMA IF NOT EXISTS dcsync;
CREATE TABLE IF NOT EXISTS dcsync.source_progress (
  sync_id text NOT NULL, database text NOT NULL, slot_name text NOT NULL, consistent_lsn pg_lsn NOT NULL,
  schema_sent boolean NOT NULL DEFAULT false, post_data text NOT NULL DEFAULT '', snapshot_complete boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (sync_id, database));
CREATE TABLE IF NOT EXISTS dcsync.source_tables (
  sync_id text NOT NULL, database text NOT NULL, schema_name text NOT NULL, table_name text NOT NULL,
  snapshot_lsn pg_lsn NOT NULL, rows bigint NOT NULL, done_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sync_id, database, schema_name, table_name));
ALTER TABLE dcsync.source_progress ADD COLUMN IF NOT EXISTS announced jsonb, ADD COLUMN IF NOT EXISTS keyless_baseline jsonb;`;

export class SourceProgressStore {
  constructor(
    private readonly db: pg.ClientBase,
    private readonly syncId: string,
    private readonly database: string,
  ) {}

  async init(): Promise<void> {
    await this.db.query(SOURCE_STATE_DDL);
  }

  async load(): Promise<SourceProgress | undefined> {
    const r = await this.db.query<{
      slot_name: string;
      consistent_lsn: string;
      schema_sent: boolean;
      post_data: string;
      snapshot_complete: boolean;
      announced: SourceTable[] | null;
      keyless_baseline: Record<string, number> | null;
    }>(
      `SELECT slot_name, consistent_lsn::text, schema_sent, post_data, snapshot_complete, announced, keyless_baseline FROM dcsync.source_progress WHERE sync_id = $1 AND database = $2`,
      [this.syncId, this.database],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    const t = await this.db.query<{ schema_name: string; table_name: string; snapshot_lsn: string; rows: string }>(
      `SELECT schema_name, table_name, snapshot_lsn::text, rows FROM dcsync.source_tables WHERE sync_id = $1 AND database = $2`,
      [this.syncId, this.database],
    );
    return {
      slot: row.slot_name,
      consistentLsn: parseLsn(row.consistent_lsn),
      schemaSent: row.schema_sent,
      postData: row.post_data,
      snapshotComplete: row.snapshot_complete,
      doneTables: new Map(t.rows.map((x) => [tableKey({ schema: x.schema_name, name: x.table_name }), { snapshotLsn: parseLsn(x.snapshot_lsn), rows: Number(x.rows) }])),
      announced: row.announced ?? undefined,
      keylessBaseline: row.keyless_baseline ? new Map(Object.entries(row.keyless_baseline).map(([oid, n]) => [Number(oid), n])) : undefined,
    };
  }

  async create(slot: string, consistentLsn: Lsn, postData: string): Promise<void> {
    await this.db.query(
      `INSERT INTO dcsync.source_progress (sync_id, database, slot_name, consistent_lsn, post_data) VALUES ($1, $2, $3, $4, $5)`,
      [this.syncId, this.database, slot, formatLsn(consistentLsn), postData],
    );
  }

  /**
   * Records what the tables look like and what their counters were as the sync starts, once: a restarted task
   * compares the catalog and the stream with this, not with the catalog it finds, so a change made while it was
   * stopped is seen too.
   */
  async recordAnnounced(announced: readonly SourceTable[], keylessBaseline: ReadonlyMap<number, number>): Promise<void> {
    await this.db.query(`UPDATE dcsync.source_progress SET announced = $3, keyless_baseline = $4, updated_at = now() WHERE sync_id = $1 AND database = $2`, [
      this.syncId,
      this.database,
      JSON.stringify(announced),
      JSON.stringify(Object.fromEntries(keylessBaseline)),
    ]);
  }

  async markSchemaSent(): Promise<void> {
    await this.db.query(`UPDATE dcsync.source_progress SET schema_sent = true, updated_at = now() WHERE sync_id = $1 AND database = $2`, [this.syncId, this.database]);
  }

  async markTableDone(t: TableId, snapshotLsn: Lsn, rows: number): Promise<void> {
    await this.db.query(
      `INSERT INTO dcsync.source_tables (sync_id, database, schema_name, table_name, snapshot_lsn, rows) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (sync_id, database, schema_name, table_name) DO UPDATE SET snapshot_lsn = excluded.snapshot_lsn, rows = excluded.rows, done_at = now()`,
      [this.syncId, this.database, t.schema, t.name, formatLsn(snapshotLsn), rows],
    );
  }

  async markSnapshotComplete(): Promise<void> {
    await this.db.query(`UPDATE dcsync.source_progress SET snapshot_complete = true, updated_at = now() WHERE sync_id = $1 AND database = $2`, [
      this.syncId,
      this.database,
    ]);
  }

  async remove(): Promise<void> {
    await this.db.query(`DELETE FROM dcsync.source_tables WHERE sync_id = $1 AND database = $2`, [this.syncId, this.database]);
    await this.db.query(`DELETE FROM dcsync.source_progress WHERE sync_id = $1 AND database = $2`, [this.syncId, this.database]);
  }
}
