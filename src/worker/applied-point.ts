/**
 * The destination's applied point: the position up to which every partition has applied what it was sent, so that
 * lag is the lagging partition's and never hides behind a partition that runs ahead.
 *
 * A partition still holding records in Kafka (its next offset is below the topic's end) counts with its applied
 * position; one that applied all it received does not hold the point back, since a partition only gets the
 * transactions that touched it (and heartbeats when the source is idle), so its position says nothing about how far
 * the others are. When every partition applied all it received, the point is the most advanced position. Without the
 * topic's end offsets (Kafka unreachable) every partition counts: the oldest, an overestimate rather than an
 * underestimate.
 */
import type { Lsn } from '../core/lsn.ts';

export interface PartitionPosition {
  /** -1 is the barrier row: a position every partition has passed. */
  readonly partition: number;
  readonly lsn: Lsn;
  readonly commitTime: Date | null;
  /** The next Kafka offset to read (null: unknown). */
  readonly nextOffset: bigint | null;
}

export interface AppliedPoint {
  readonly lsn: Lsn;
  readonly commitTime: Date | null;
}

const BARRIER = -1;

/** `ends`: each partition's end offset (high watermark) of the changes topic, or undefined when unknown. */
export function appliedPoint(rows: readonly PartitionPosition[], ends: ReadonlyMap<number, bigint> | undefined): AppliedPoint | undefined {
  const barrier = rows.find((r) => r.partition === BARRIER);
  const partitions = rows
    .filter((r) => r.partition !== BARRIER)
    .map((r) => (barrier !== undefined && barrier.lsn > r.lsn ? { ...r, lsn: barrier.lsn, commitTime: barrier.commitTime } : r));
  if (partitions.length === 0) return barrier && { lsn: barrier.lsn, commitTime: barrier.commitTime };
  const pending = ends === undefined ? partitions : partitions.filter((r) => r.nextOffset === null || (ends.get(r.partition) ?? 0n) > r.nextOffset);
  const pick = pending.length > 0 ? pending.reduce((a, b) => (b.lsn < a.lsn ? b : a)) : partitions.reduce((a, b) => (b.lsn > a.lsn ? b : a));
  return { lsn: pick.lsn, commitTime: pick.commitTime };
}
