/** Pure steps of the bisection: which chunks differ, which to split further, and how rows of a chunk differ. */
import { splitRange, type HashRange } from './hash-ranges.ts';

/** A chunk's summary on one side: its row count and the sum of its rows' 64-bit hashes (order-independent). */
export interface ChunkStat {
  readonly rows: number;
  /** Decimal text (the sum exceeds 64 bits). */
  readonly sum: string;
}

export const EMPTY_CHUNK: ChunkStat = { rows: 0, sum: '0' };

/**
 * One row of a chunk as the comparison sees it. A keyed table: the key's text and the whole row's hash. A table
 * without key: the row's text (its identity) and how many times it occurs; `hash` is empty.
 */
export interface RowDigest {
  readonly key: string;
  readonly hash: string;
  readonly count: number;
}

export function sameChunk(a: ChunkStat, b: ChunkStat): boolean {
  return a.rows === b.rows && a.sum === b.sum;
}

export interface ChunkVerdict {
  /** Differing chunks small enough to compare row by row. */
  readonly leaves: HashRange[];
  /** Differing chunks cut further for the next round. */
  readonly next: HashRange[];
  readonly equalRows: number;
}

/**
 * Sorts the chunks of one round: equal ones are done; a differing one is compared row by row when neither side
 * holds more than `leafRows` rows in it (or it cannot be cut further), else it is cut into `fanout` chunks.
 */
export function judgeChunks(ranges: readonly HashRange[], a: readonly ChunkStat[], b: readonly ChunkStat[], leafRows: number, fanout: number): ChunkVerdict {
  const leaves: HashRange[] = [];
  const next: HashRange[] = [];
  let equalRows = 0;
  ranges.forEach((r, i) => {
    const sa = a[i] ?? EMPTY_CHUNK;
    const sb = b[i] ?? EMPTY_CHUNK;
    if (sameChunk(sa, sb)) {
      equalRows += sa.rows;
      return;
    }
    if (Math.max(sa.rows, sb.rows) <= leafRows || r.hi - r.lo <= 1) leaves.push(r);
    else next.push(...splitRange(r, fanout));
  });
  return { leaves, next, equalRows };
}

/** Keys (or, for a table without key, row texts) that differ between A and B. */
export interface RowDifferences {
  /** At A, not at B (for a table without key: one entry per missing occurrence is counted in `missingRows`). */
  readonly missing: string[];
  readonly extra: string[];
  readonly different: string[];
  readonly missingRows: number;
  readonly extraRows: number;
}

/** Compares the rows of the same chunks on both sides. */
export function compareRows(a: readonly RowDigest[], b: readonly RowDigest[]): RowDifferences {
  const atB = new Map<string, RowDigest>();
  for (const r of b) atB.set(r.key, r);
  const missing: string[] = [];
  const extra: string[] = [];
  const different: string[] = [];
  let missingRows = 0;
  let extraRows = 0;
  for (const ra of a) {
    const rb = atB.get(ra.key);
    atB.delete(ra.key);
    const countB = rb?.count ?? 0;
    if (ra.count > countB) {
      missing.push(ra.key);
      missingRows += ra.count - countB;
    } else if (countB > ra.count) {
      extra.push(ra.key);
      extraRows += countB - ra.count;
    } else if (rb && rb.hash !== ra.hash) different.push(ra.key);
  }
  for (const rb of atB.values()) {
    extra.push(rb.key);
    extraRows += rb.count;
  }
  return { missing, extra, different, missingRows, extraRows };
}
