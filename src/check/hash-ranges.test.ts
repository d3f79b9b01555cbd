import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketsOf, HASH_SPACE, initialRanges, splitRange } from './hash-ranges.ts';

test('the first round covers the whole hash space in about chunkRows rows per chunk, within the bounds', () => {
  for (const [rows, n] of [[0, 1], [1, 1], [10_000, 1], [10_001, 2], [1_000_000, 100], [1e12, 4096]] as const) {
    const r = initialRanges(rows, 10_000, 4096);
    assert.equal(r.length, n, `${rows} rows`);
    assert.equal(r[0]!.lo, 0);
    assert.equal(r.at(-1)!.hi, HASH_SPACE);
    for (let i = 1; i < r.length; i++) assert.equal(r[i]!.lo, r[i - 1]!.hi, 'no gap, no overlap');
  }
});

test('a range splits into adjacent parts; a narrow one into single hashes', () => {
  assert.deepEqual(splitRange({ lo: 10, hi: 26 }, 4), [{ lo: 10, hi: 14 }, { lo: 14, hi: 18 }, { lo: 18, hi: 22 }, { lo: 22, hi: 26 }]);
  assert.deepEqual(splitRange({ lo: 5, hi: 7 }, 16), [{ lo: 5, hi: 6 }, { lo: 6, hi: 7 }]);
  assert.deepEqual(splitRange({ lo: 5, hi: 6 }, 16), [{ lo: 5, hi: 6 }]);
});

test('bucket numbers follow width_bucket: adjacent and separate ranges, gaps numbered apart', () => {
  const { thresholds, buckets } = bucketsOf([{ lo: 30, hi: 40 }, { lo: 0, hi: 10 }, { lo: 10, hi: 20 }]);
  assert.deepEqual(thresholds, [0, 10, 20, 30, 40]);
  // width_bucket(x, thresholds) = how many thresholds are <= x: 0..9 → 1, 10..19 → 2, 20..29 → 3 (the gap), 30..39 → 4
  assert.deepEqual(buckets, [4, 1, 2]);
  const widthBucket = (x: number): number => thresholds.filter((t) => t <= x).length;
  assert.deepEqual([0, 9, 10, 19, 25, 30, 39, 40].map(widthBucket), [1, 1, 2, 2, 3, 4, 4, 5]);
});

test('overlapping or malformed ranges are refused', () => {
  assert.throws(() => bucketsOf([{ lo: 0, hi: 10 }, { lo: 5, hi: 15 }]), RangeError);
  assert.throws(() => bucketsOf([{ lo: 10, hi: 10 }]), RangeError);
  assert.throws(() => bucketsOf([{ lo: 0, hi: HASH_SPACE + 1 }]), RangeError);
});
