import type pg from 'pg';
import { formatLsn, parseLsn, type Lsn } from '../core/lsn.ts';
import { tableKey, type Position, type TableId } from '../model/change.ts';
import { checkFence, FencedError, TARGET_FENCE_DDL, takeOverFence } from './fence.ts';
import type { Logger } from '../core/logger.ts';
import type { ChainMark, ResumePoint } from '../transport/record-sequence.ts';

/**
 * What the destination has applied, stored in each target database (schema dcsync) and always written in the
 * same transaction as the data it describes: a crash or a replayed Kafka range can then never apply twice.
 */
export const TARGET_STATE_DDL = `
CREATE SCHEMA IF NOT EXISTS dcsync;
CREATE TABLE IF NOT EXISTS dcsync.target_sync (
  sync_id text PRIMARY KEY, schema_applied boolean NOT NULL DEFAULT false, snapshot_complete boolean NOT NULL DEFAULT false,
  snapshot_offset bigint, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS dcsync.target_tables (
  sync_id text NOT NULL, schema_name text NOT NULL, table_name text NOT NULL, snapshot_lsn pg_lsn NOT NULL,
  columns text[] NOT NULL, status text NOT NULL, rows_copied bigint NOT NULL DEFAULT 0, rows_total bigint NOT NULL DEFAULT 0,
  error text, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (sync_id, schema_name, table_name));
CREATE TABLE IF NOT EXISTS dcsync.snapshot_parts (
  sync_id text NOT NULL, schema_name text NOT NULL, table_name text NOT NULL, snapshot_lsn pg_lsn NOT NULL,
  chunk int NOT NULL, part int NOT NULL, PRIMARY KEY (sync_id, schema_name, table_name, snapshot_lsn, chunk, part));
CREATE TABLE IF NOT EXISTS dcsync.applied_position (
  sync_id text NOT NULL, partition int NOT NULL, lsn pg_lsn NOT NULL, idx int NOT NULL, kafka_offset bigint,
  commit_time timestamptz, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (sync_id, partition));
ALTER TABLE dcsync.applied_position ADD COLUMN IF NOT EXISTS record_seq bigint;
ALTER TABLE dcsync.target_sync ADD COLUMN IF NOT EXISTS snapshot_seq bigint;
${TARGET_FENCE_DDL}`;

/** The position row used for barriers, which every partition passes together. */
export const BARRIER_PARTITION = -1;

export interface TargetTableState {
  table: TableId;
  snapshotLsn: Lsn;
  columns: string[];
  status: 'copying' | 'copied' | 'running' | 'failed';
  rowsCopied: number;
  error: string | null;
}

/**
 * The destination's state in one target database, for one stream, as the task with `epoch` sees it. Every write
 * that goes with applied data (positions, copied parts) proves in its transaction that `epoch` still holds the
 * stream's fence (fence.ts): a task whose assignment moved on fails with FencedError and its transaction rolls back.
 */
export class TargetState {
  constructor(
    readonly syncId: string,
    readonly epoch: number,
  ) {}

  /** Makes this task's epoch the holder of the stream (once, before anything is applied). */
  async takeOver(c: pg.ClientBase, o: { holder: string; log: Logger; signal: AbortSignal }): Promise<void> {
    await takeOverFence(c, { syncId: this.syncId, epoch: this.epoch, ...o });
  }

  /** Locks the fence until the end of the transaction if this task still holds it; FencedError if not. */
  async checkFence(c: pg.ClientBase): Promise<void> {
    await checkFence(c, this.syncId, this.epoch);
  }

  async init(c: pg.ClientBase): Promise<void> {
    await c.query(TARGET_STATE_DDL);
    await c.query(`INSERT INTO dcsync.target_sync (sync_id) VALUES ($1) ON CONFLICT DO NOTHING`, [this.syncId]);
  }

  async sync(c: pg.ClientBase): Promise<{ schemaApplied: boolean; snapshotComplete: boolean; snapshotResume: ResumePoint | null }> {
    const r = await c.query<{ schema_applied: boolean; snapshot_complete: boolean; snapshot_offset: string | null; snapshot_seq: string | null }>(
      `SELECT schema_applied, snapshot_complete, snapshot_offset::text, snapshot_seq::text FROM dcsync.target_sync WHERE sync_id = $1`,
      [this.syncId],
    );
    const row = r.rows[0];
    const resume = row?.snapshot_offset ? { offset: row.snapshot_offset, mark: markOf(row.snapshot_seq) } : null;
    return { schemaApplied: row?.schema_applied ?? false, snapshotComplete: row?.snapshot_complete ?? false, snapshotResume: resume };
  }

  /** Where to resume reading the snapshot topic, with the chain's mark there (replays are skipped anyway). */
  async setSnapshotResume(c: pg.ClientBase, resume: ResumePoint): Promise<void> {
    await c.query(`UPDATE dcsync.target_sync SET snapshot_offset = $2, snapshot_seq = $3, updated_at = now() WHERE sync_id = $1`, [
      this.syncId,
      resume.offset,
      resume.mark?.toString() ?? null,
    ]);
  }

  async setSchemaApplied(c: pg.ClientBase): Promise<void> {
    await c.query(`UPDATE dcsync.target_sync SET schema_applied = true, updated_at = now() WHERE sync_id = $1`, [this.syncId]);
  }

  async setSnapshotComplete(c: pg.ClientBase): Promise<void> {
    await c.query(`UPDATE dcsync.target_sync SET snapshot_complete = true, updated_at = now() WHERE sync_id = $1`, [this.syncId]);
    await c.query(`UPDATE dcsync.target_tables SET status = 'running', updated_at = now() WHERE sync_id = $1 AND status <> 'failed'`, [this.syncId]);
  }

  async tables(c: pg.ClientBase): Promise<Map<string, TargetTableState>> {
    const r = await c.query<{ schema_name: string; table_name: string; snapshot_lsn: string; columns: string[]; status: TargetTableState['status']; rows_copied: string; error: string | null }>(
      `SELECT schema_name, table_name, snapshot_lsn::text, columns, status, rows_copied, error FROM dcsync.target_tables WHERE sync_id = $1`,
      [this.syncId],
    );
    return new Map(
      r.rows.map((x) => {
        const table = { schema: x.schema_name, name: x.table_name };
        return [tableKey(table), { table, snapshotLsn: parseLsn(x.snapshot_lsn), columns: x.columns, status: x.status, rowsCopied: Number(x.rows_copied), error: x.error }];
      }),
    );
  }

  async beginTable(c: pg.ClientBase, t: TableId, snapshotLsn: Lsn, columns: readonly string[], estimatedRows: number): Promise<void> {
    await c.query(
      `INSERT INTO dcsync.target_tables (sync_id, schema_name, table_name, snapshot_lsn, columns, status, rows_copied, rows_total)
       VALUES ($1, $2, $3, $4, $5, 'copying', 0, $6)
       ON CONFLICT (sync_id, schema_name, table_name) DO UPDATE SET snapshot_lsn = excluded.snapshot_lsn, columns = excluded.columns,
         status = 'copying', rows_copied = 0, rows_total = excluded.rows_total, error = NULL, updated_at = now()`,
      [this.syncId, t.schema, t.name, formatLsn(snapshotLsn), columns, estimatedRows],
    );
    await c.query(`DELETE FROM dcsync.snapshot_parts WHERE sync_id = $1 AND schema_name = $2 AND table_name = $3`, [this.syncId, t.schema, t.name]);
  }

  /** Records several copied parts at once; returns those not applied before (as 'chunk/part'). */
  async claimParts(c: pg.ClientBase, t: TableId, snapshotLsn: Lsn, parts: readonly { chunk: number; part: number; rows: number }[]): Promise<Set<string>> {
    const r = await c.query<{ chunk: number; part: number }>(
      `INSERT INTO dcsync.snapshot_parts (sync_id, schema_name, table_name, snapshot_lsn, chunk, part)
       SELECT $1, $2, $3, $4, u.chunk, u.part FROM unnest($5::int[], $6::int[]) AS u(chunk, part)
       ON CONFLICT DO NOTHING RETURNING chunk, part`,
      [this.syncId, t.schema, t.name, formatLsn(snapshotLsn), parts.map((p) => p.chunk), parts.map((p) => p.part)],
    );
    return new Set(r.rows.map((x) => `${x.chunk}/${x.part}`));
  }

  /** Counts copied rows; run last in the transaction (it locks the table's state row until commit). */
  async addRowsCopied(c: pg.ClientBase, t: TableId, rows: number): Promise<void> {
    await c.query(`UPDATE dcsync.target_tables SET rows_copied = rows_copied + $4, updated_at = now() WHERE sync_id = $1 AND schema_name = $2 AND table_name = $3`, [
      this.syncId,
      t.schema,
      t.name,
      rows,
    ]);
  }

  async endTable(c: pg.ClientBase, t: TableId, rows: number): Promise<void> {
    await c.query(`UPDATE dcsync.target_tables SET status = 'copied', rows_total = $4, updated_at = now() WHERE sync_id = $1 AND schema_name = $2 AND table_name = $3`, [
      this.syncId,
      t.schema,
      t.name,
      rows,
    ]);
  }

  async failTable(c: pg.ClientBase, t: TableId, error: string): Promise<void> {
    await c.query(`UPDATE dcsync.target_tables SET status = 'failed', error = $4, updated_at = now() WHERE sync_id = $1 AND schema_name = $2 AND table_name = $3`, [
      this.syncId,
      t.schema,
      t.name,
      error,
    ]);
  }

  /** Per partition: the applied position and where to read again from (`resume`: null for the barrier row). */
  async positions(c: pg.ClientBase): Promise<Map<number, Position & { resume: ResumePoint | null }>> {
    const r = await c.query<{ partition: number; lsn: string; idx: number; kafka_offset: string | null; record_seq: string | null }>(
      `SELECT partition, lsn::text, idx, kafka_offset::text, record_seq::text FROM dcsync.applied_position WHERE sync_id = $1`,
      [this.syncId],
    );
    return new Map(
      r.rows.map((x) => [x.partition, { lsn: parseLsn(x.lsn), index: x.idx, resume: x.kafka_offset === null ? null : { offset: x.kafka_offset, mark: markOf(x.record_seq) } }]),
    );
  }

  /**
   * The partition's applied position; `resume` is where to read again from (the offset is a hint, positions decide;
   * the mark is the gap check's). Saved only while this task holds the fence (locked for the rest of the transaction,
   * in the same statement): otherwise FencedError, and the caller's transaction, data included, must roll back.
   */
  async savePosition(c: pg.ClientBase, partition: number, pos: Position, commitTimeUs: bigint, resume: ResumePoint | null): Promise<void> {
    const r = await c.query(
      `WITH fence AS (SELECT 1 FROM dcsync.target_fence WHERE sync_id = $1 AND epoch = $7 FOR SHARE)
       INSERT INTO dcsync.applied_position (sync_id, partition, lsn, idx, kafka_offset, record_seq, commit_time, applied_at)
       SELECT $1, $2, $3, $4, $5, $8, to_timestamp($6::float8 / 1e6), now() FROM fence
       ON CONFLICT (sync_id, partition) DO UPDATE SET lsn = excluded.lsn, idx = excluded.idx,
         kafka_offset = coalesce(excluded.kafka_offset, dcsync.applied_position.kafka_offset),
         record_seq = CASE WHEN excluded.kafka_offset IS NULL THEN dcsync.applied_position.record_seq ELSE excluded.record_seq END,
         commit_time = excluded.commit_time, applied_at = now()
       RETURNING 1`,
      [this.syncId, partition, formatLsn(pos.lsn), pos.index, resume?.offset ?? null, commitTimeUs.toString(), this.epoch, resume?.mark?.toString() ?? null],
    );
    if ((r.rowCount ?? 0) === 0) throw new FencedError(this.syncId, this.epoch, await this.heldBy(c));
  }

  async heldBy(c: pg.ClientBase): Promise<number | null> {
    const r = await c.query<{ epoch: string }>(`SELECT epoch::text FROM dcsync.target_fence WHERE sync_id = $1`, [this.syncId]);
    return r.rows[0] ? Number(r.rows[0].epoch) : null;
  }
}

/** A stored mark: NULL is a resume point stored before records were numbered (unknown). */
function markOf(stored: string | null): ChainMark {
  return stored === null ? null : BigInt(stored);
}
