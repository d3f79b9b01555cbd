import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchLeaves } from './table-check.ts';

test('leaves are grouped into requests of bounded rows; a large leaf goes alone', () => {
  const r = (lo: number) => ({ lo, hi: lo + 1 });
  const batches = batchLeaves([{ range: r(0), rows: 30 }, { range: r(1), rows: 30 }, { range: r(2), rows: 50 }, { range: r(3), rows: 200 }, { range: r(4), rows: 1 }], 100);
  assert.deepEqual(batches.map((b) => b.map((x) => x.lo)), [[0, 1], [2], [3], [4]]);
  assert.deepEqual(batchLeaves([], 100), []);
});
