import type pg from 'pg';
import { applyChanges, type TargetCatalog } from '../apply/index.ts';
import { type EncodedChange, qualifiedName, type RowChange } from '../../model/change.ts';
import type { Position } from '../../model/position.ts';
import { connect } from '../../postgres/connection.ts';
import type { Barrier } from '../../transport/record-format/index.ts';
import type { ResumePoint } from '../../transport/record-sequence.ts';
import { BARRIER_PARTITION, type TargetState } from '../target-state.ts';
import type { TableFilter } from './table-filter.ts';

/**
 * What the partition applier needs of the target: one session per partition, whose transactions carry the
 * partition's position with its data. `applied` is what the target has committed; `inflight` what the open
 * transaction holds (transactional mode).
 */
export interface PartitionTarget {
  readonly applied: Position | undefined;
  readonly inflight: Position | undefined;
  readonly open: boolean;
  begin(): Promise<void>;
  apply(changes: readonly (RowChange | EncodedChange)[]): Promise<void>;
  /** Applies a barrier and stores it as the applied barrier, in the open transaction. */
  barrier(b: Barrier, pos: Position, commitTimeUs: bigint): Promise<void>;
  /** The open transaction holds everything up to `pos`, not committed yet. */
  hold(pos: Position): void;
  /** Commits the open transaction (beginning one if none is open) with the partition's position and resume point. */
  commit(pos: Position, commitTimeUs: bigint, changes: number, resume: ResumePoint): Promise<void>;
}

export interface PartitionSessionOptions {
  partition: number;
  client: pg.Client;
  state: TargetState;
  catalog: TargetCatalog;
  filter: TableFilter;
  applied: Position | undefined;
  onApplied?: (p: { partition: number; position: Position; commitTimeUs: bigint; changes: number }) => void;
}

/** A partition's session on the target. */
export class PartitionSession implements PartitionTarget {
  applied: Position | undefined;
  inflight: Position | undefined;
  open = false;

  constructor(private readonly o: PartitionSessionOptions) {
    this.applied = o.applied;
  }

  static async connect(o: Omit<PartitionSessionOptions, 'client'> & { url: string; database: string }): Promise<PartitionSession> {
    const client = await connect({ url: o.url, database: o.database, applicationName: `dcsync-apply-${o.partition}` });
    // No triggers or FK checks, as native logical replication. synchronous_commit off, as native subscriptions
    // default to: the commit does not wait for the WAL flush. Safe because the partition's position and Kafka
    // offset are in the same transaction as its data: a crash of the target loses a tail of whole transactions,
    // data and position together, and the restarted loop reads that tail again from Kafka. Nothing outside the
    // target relies on the commit (the source confirms its slot on Kafka's acknowledgements, not the target's).
    await client.query('SET session_replication_role = replica; SET synchronous_commit = off');
    return new PartitionSession({ ...o, client });
  }

  async begin(): Promise<void> {
    if (!this.open) {
      await this.o.client.query('BEGIN');
      this.open = true;
    }
  }

  async apply(changes: readonly (RowChange | EncodedChange)[]): Promise<void> {
    await applyChanges(this.o.client, this.o.catalog, changes);
  }

  async barrier(b: Barrier, pos: Position, commitTimeUs: bigint): Promise<void> {
    await this.begin();
    await this.#applyBarrier(b, pos);
    await this.o.state.savePosition(this.o.client, BARRIER_PARTITION, pos, commitTimeUs, null);
  }

  hold(pos: Position): void {
    this.inflight = pos;
  }

  async commit(pos: Position, commitTimeUs: bigint, changes: number, resume: ResumePoint): Promise<void> {
    await this.begin();
    await this.o.state.savePosition(this.o.client, this.o.partition, pos, commitTimeUs, resume);
    await this.o.client.query('COMMIT');
    this.open = false;
    this.applied = pos;
    this.inflight = undefined;
    this.o.onApplied?.({ partition: this.o.partition, position: pos, commitTimeUs, changes });
  }

  async close(): Promise<void> {
    if (this.open) await this.o.client.query('ROLLBACK').catch(() => {});
    await this.o.client.end().catch(() => {});
  }

  async #applyBarrier(b: Barrier, pos: Position): Promise<void> {
    const { client, filter } = this.o;
    switch (b.type) {
      case 'changes': {
        const changes = b.changes.filter((c) => filter.wanted(c, pos));
        if (changes.length > 0) await this.apply(changes);
        return;
      }
      case 'truncate': {
        const list = b.tables.filter((t) => filter.wantedTable(t, pos));
        if (list.length > 0) await client.query(`TRUNCATE ONLY ${list.map(qualifiedName).join(', ')}${b.restartIdentity ? ' RESTART IDENTITY' : ''}`);
        return;
      }
      case 'table-failed':
        await this.o.state.failTable(client, b.table, b.reason);
        this.o.filter.markFailed(b.table, b.reason);
        return;
      case 'check':
        // Changes nothing: the apply loop takes the check's snapshot once this barrier is committed.
        return;
    }
  }
}
