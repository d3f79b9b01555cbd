/**
 * One table's comparison at a check's cut: chunk summaries on both sides, chunks that differ cut finer round by
 * round, small differing chunks compared row by row. Only summaries and row digests travel; the rows stay where
 * they are.
 */
import type { CheckedTableInfo, TableCheckView } from '../control/v1/check.ts';
import { compareRows, judgeChunks, type ChunkStat } from './chunk-compare.ts';
import { initialRanges, type HashRange } from './hash-ranges.ts';
import { keyRangesOf } from './key-ranges.ts';
import type { HashSide } from './snapshot-hasher.ts';

export interface TableCheckOptions {
  /** Rows per chunk of the first round (from the source's row estimate). */
  readonly chunkRows: number;
  readonly maxChunks: number;
  /** A differing chunk of at most this many rows on either side is compared row by row. */
  readonly leafRows: number;
  /** How many chunks a larger differing chunk is cut into. */
  readonly fanout: number;
  /** Rows asked for in one request per side. */
  readonly rowsPerRequest: number;
  /** More differing rows than this: the counts stop there (`complete: false`). */
  readonly maxRowsCompared: number;
  /** Key ranges listed per kind (missing, extra, different). */
  readonly maxRanges: number;
}

export const DEFAULT_TABLE_CHECK: TableCheckOptions = { chunkRows: 10_000, maxChunks: 4096, leafRows: 2_000, fanout: 16, rowsPerRequest: 50_000, maxRowsCompared: 1_000_000, maxRanges: 1_000 };

/** Groups leaves into requests of at most `max` rows (by the larger side's count). */
export function batchLeaves(leaves: readonly { range: HashRange; rows: number }[], max: number): HashRange[][] {
  const out: HashRange[][] = [];
  let cur: HashRange[] = [];
  let n = 0;
  for (const l of leaves) {
    if (cur.length > 0 && n + l.rows > max) {
      out.push(cur);
      cur = [];
      n = 0;
    }
    cur.push(l.range);
    n += l.rows;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

function total(stats: readonly ChunkStat[]): number {
  return stats.reduce((s, c) => s + c.rows, 0);
}

export async function checkTable(t: CheckedTableInfo, atSource: HashSide, atDestination: HashSide, o: TableCheckOptions = DEFAULT_TABLE_CHECK, onHashed?: (rows: number) => void): Promise<TableCheckView> {
  let ranges = initialRanges(t.estimatedRows, o.chunkRows, o.maxChunks);
  let rowsAtSource = 0;
  let rowsAtDestination = 0;
  let first = true;
  let differs = false;
  let complete = true;
  let compared = 0;
  const missing: string[] = [];
  const extra: string[] = [];
  const different: string[] = [];
  let missingRows = 0;
  let extraRows = 0;
  rounds: while (ranges.length > 0) {
    const [sa, sb] = await Promise.all([atSource.stats(t, ranges), atDestination.stats(t, ranges)]);
    if (first) {
      rowsAtSource = total(sa);
      rowsAtDestination = total(sb);
      onHashed?.(rowsAtSource + rowsAtDestination);
      first = false;
    }
    const verdict = judgeChunks(ranges, sa, sb, o.leafRows, o.fanout);
    if (verdict.leaves.length > 0 || verdict.next.length > 0) differs = true;
    const size = new Map(ranges.map((r, i) => [r.lo, Math.max(sa[i]?.rows ?? 0, sb[i]?.rows ?? 0)]));
    for (const batch of batchLeaves(verdict.leaves.map((r) => ({ range: r, rows: size.get(r.lo) ?? 0 })), o.rowsPerRequest)) {
      if (compared >= o.maxRowsCompared) {
        complete = false;
        break rounds;
      }
      const [ra, rb] = await Promise.all([atSource.rows(t, batch), atDestination.rows(t, batch)]);
      compared += Math.max(ra.length, rb.length);
      const d = compareRows(ra, rb);
      missing.push(...d.missing);
      extra.push(...d.extra);
      different.push(...d.different);
      missingRows += d.missingRows;
      extraRows += d.extraRows;
    }
    ranges = verdict.next;
  }
  const columns = Math.max(1, t.keyColumns.length);
  const m = keyRangesOf(missing, columns, o.maxRanges);
  const e = keyRangesOf(extra, columns, o.maxRanges);
  const c = keyRangesOf(different, columns, o.maxRanges);
  return {
    schema: t.schema,
    name: t.name,
    keyColumns: t.keyColumns,
    equal: !differs,
    rowsAtSource,
    rowsAtDestination,
    missingAtDestination: missingRows,
    extraAtDestination: extraRows,
    different: different.length,
    ranges: { missing: m.ranges, extra: e.ranges, different: c.ranges },
    rangesOmitted: m.omitted + e.omitted + c.omitted,
    complete,
  };
}
