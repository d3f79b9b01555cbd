/**
 * The key-hash space a check cuts tables into. A row belongs to the range holding the 32-bit hash of its key's text
 * (of its whole text for a table without key), moved to [0, 2^32). Both datacenters place a row alike whatever its
 * physical place (ctid) or the collation of its key, so a chunk is the same set of keys on both sides.
 */

/** [lo, hi) of the key-hash space. */
export interface HashRange {
  readonly lo: number;
  readonly hi: number;
}

export const HASH_SPACE = 2 ** 32;

/** Equal ranges covering the whole space, about `chunkRows` rows each for a table of `estimatedRows` rows. */
export function initialRanges(estimatedRows: number, chunkRows: number, maxChunks: number): HashRange[] {
  const n = Math.min(maxChunks, Math.max(1, Math.ceil(Math.max(0, estimatedRows) / chunkRows)));
  return splitRange({ lo: 0, hi: HASH_SPACE }, n);
}

/** `r` cut into `parts` ranges of (nearly) equal width; a range narrower than `parts` is cut into single hashes. */
export function splitRange(r: HashRange, parts: number): HashRange[] {
  const width = r.hi - r.lo;
  const n = Math.max(1, Math.min(parts, width));
  const out: HashRange[] = [];
  for (let i = 0; i < n; i++) out.push({ lo: r.lo + Math.floor((width * i) / n), hi: i === n - 1 ? r.hi : r.lo + Math.floor((width * (i + 1)) / n) });
  return out;
}

/**
 * What the SQL needs for a set of disjoint ranges: sorted `thresholds` for width_bucket(), and for each range (in
 * the order given) the bucket number width_bucket() gives its hashes. Gaps between ranges get bucket numbers of
 * their own, which no range has.
 */
export function bucketsOf(ranges: readonly HashRange[]): { thresholds: number[]; buckets: number[] } {
  const points = [...new Set(ranges.flatMap((r) => [r.lo, r.hi]))].sort((a, b) => a - b);
  for (const r of ranges) if (!(Number.isInteger(r.lo) && Number.isInteger(r.hi) && r.lo >= 0 && r.hi <= HASH_SPACE && r.lo < r.hi)) throw new RangeError(`bad hash range [${r.lo}, ${r.hi})`);
  const sorted = [...ranges].sort((a, b) => a.lo - b.lo);
  for (let i = 1; i < sorted.length; i++) if (sorted[i]!.lo < sorted[i - 1]!.hi) throw new RangeError(`hash ranges overlap at ${sorted[i]!.lo}`);
  const index = new Map(points.map((p, i) => [p, i + 1]));
  return { thresholds: points, buckets: ranges.map((r) => index.get(r.lo)!) };
}
