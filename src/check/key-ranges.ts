/**
 * Differing keys summarised as key ranges for the operator. Keys of one integer column are merged where they are
 * consecutive (rows 100..199 deleted at B read as one range); other keys cannot be known to be neighbours without
 * reading the table in key order, so each is its own range.
 */

/** A key's column values as text, as `keyValues` reads them from the key's text. */
export type KeyValues = readonly string[];

export interface KeyRange {
  readonly from: KeyValues;
  readonly to: KeyValues;
  readonly rows: number;
}

const INTEGER = /^-?\d{1,30}$/;

/** The column values of a key's text: one column's text as it is, several as the JSON array the SQL builds. */
export function keyValues(key: string, columns: number): KeyValues {
  if (columns === 1) return [key];
  const parsed: unknown = JSON.parse(key);
  if (!Array.isArray(parsed)) throw new RangeError(`composite key text is not a JSON array: ${key}`);
  return parsed.map((v) => (v === null ? 'NULL' : String(v)));
}

/** At most `max` ranges, in key order, and how many ranges were left out. */
export function keyRangesOf(keys: readonly string[], columns: number, max: number): { ranges: KeyRange[]; omitted: number } {
  const all: KeyRange[] = [];
  if (columns === 1 && keys.every((k) => INTEGER.test(k))) {
    const sorted = [...new Set(keys.map((k) => BigInt(k)))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let start = 0;
    for (let i = 1; i <= sorted.length; i++) {
      if (i < sorted.length && sorted[i] === sorted[i - 1]! + 1n) continue;
      all.push({ from: [String(sorted[start])], to: [String(sorted[i - 1])], rows: i - start });
      start = i;
    }
  } else {
    const values = keys.map((k) => keyValues(k, columns));
    values.sort(compareKeys);
    for (const v of values) all.push({ from: v, to: v, rows: 1 });
  }
  return { ranges: all.slice(0, max), omitted: Math.max(0, all.length - max) };
}

function compareKeys(a: KeyValues, b: KeyValues): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (INTEGER.test(x) && INTEGER.test(y)) return BigInt(x) < BigInt(y) ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}
