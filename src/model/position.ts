/**
 * Positions in the source's commit order, and the one ordering every side uses.
 *
 * - A row change, a truncate, a key move and a transaction's end in a partition stand at (commit LSN of their
 *   transaction, index ≥ 0 within it). Transactions are ordered by commit LSN, the start of their commit record.
 * - A marker that is not a change (a heartbeat, a table's failure) stands at (end LSN of the logical message that
 *   carries it, MARKER_INDEX). The next commit record may start exactly at that end LSN, so a marker must sort below
 *   index 0 there: it covers every transaction committed below its LSN and none at or above it. Each marker has its
 *   own message, so two markers never share a position.
 */
import { formatLsn, type Lsn } from '../core/lsn.ts';

/** Where an entry stands in the source's commit order. */
export interface Position {
  readonly lsn: Lsn;
  readonly index: number;
}

/** The index of a marker: below every change of a transaction committing at the marker's LSN. */
export const MARKER_INDEX = -1;

export function comparePositions(a: Position, b: Position): number {
  if (a.lsn !== b.lsn) return a.lsn < b.lsn ? -1 : 1;
  return a.index - b.index;
}

/** The position of a marker carried by a logical message ending at `messageEnd`. */
export function markerPosition(messageEnd: Lsn): Position {
  return { lsn: messageEnd, index: MARKER_INDEX };
}

export function isMarker(p: Position): boolean {
  return p.index === MARKER_INDEX;
}

/** Whether `p` is at or below `applied` (nothing applied yet covers nothing). */
export function isCovered(p: Position, applied: Position | undefined): boolean {
  return applied !== undefined && comparePositions(p, applied) <= 0;
}

/** Whether `p` is strictly above `applied` (everything is above nothing). */
export function isAbove(p: Position, applied: Position | undefined): boolean {
  return !isCovered(p, applied);
}

export function formatPosition(p: Position): string {
  return `${formatLsn(p.lsn)}:${p.index}`;
}
