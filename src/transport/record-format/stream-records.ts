/** The entries of dcsync's streams as the domain sees them, before they are laid out in Kafka records. */
import type { Lsn } from '../../core/lsn.ts';
import type { RowChange, TableId } from '../../model/change.ts';
import type { Position } from '../../model/position.ts';

/** What happens at one position of the change stream that every partition must reach before it is applied. */
export type Barrier =
  | { type: 'changes'; changes: RowChange[] }
  | { type: 'truncate'; tables: TableId[]; cascade: boolean; restartIdentity: boolean }
  | { type: 'table-failed'; table: TableId; reason: string }
  /** A `check sync` cut: the destination takes a snapshot for the check once every partition reached it. */
  | { type: 'check'; checkId: string };

interface Origin {
  pos: Position;
  xid: number;
  /** Commit time in microseconds since the Unix epoch. */
  commitTimeUs: bigint;
}

/** `C`: the change's form; decoders that keep rows encoded (readChangeBatch) give `RowChange | EncodedChange`. */
export type ChangeStreamRecord<C = RowChange> =
  | (Origin & { kind: 'change'; change: C; endOfTx: boolean })
  /** End of a transaction in this partition, for transactions too large to be flagged on their last record. */
  | (Origin & { kind: 'commit' })
  | (Origin & { kind: 'barrier'; barrier: Barrier; endOfTx: boolean })
  | (Origin & { kind: 'heartbeat' });

export type SnapshotStreamRecord =
  | { kind: 'schema'; snapshotLsn: Lsn; preData: string }
  | { kind: 'table-begin'; table: TableId; snapshotLsn: Lsn; columns: string[]; estimatedRows: number }
  | { kind: 'chunk'; table: TableId; snapshotLsn: Lsn; chunk: number; part: number; last: boolean; rows: number; data: Buffer }
  | { kind: 'table-end'; table: TableId; snapshotLsn: Lsn; chunks: number; rows: number }
  | { kind: 'snapshot-end'; snapshotLsn: Lsn; postData: string; tables: TableId[] };
