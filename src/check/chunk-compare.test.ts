import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareRows, judgeChunks } from './chunk-compare.ts';

test('equal chunks are done; a small differing one is compared by rows; a large one is cut finer', () => {
  const ranges = [{ lo: 0, hi: 100 }, { lo: 100, hi: 200 }, { lo: 200, hi: 264 }];
  const a = [{ rows: 5, sum: '11' }, { rows: 3, sum: '7' }, { rows: 5000, sum: '9' }];
  const b = [{ rows: 5, sum: '11' }, { rows: 3, sum: '8' }, { rows: 4999, sum: '9' }];
  const v = judgeChunks(ranges, a, b, 2000, 4);
  assert.equal(v.equalRows, 5);
  assert.deepEqual(v.leaves, [{ lo: 100, hi: 200 }]);
  assert.deepEqual(v.next, [{ lo: 200, hi: 216 }, { lo: 216, hi: 232 }, { lo: 232, hi: 248 }, { lo: 248, hi: 264 }]);
});

test('a chunk of one hash is compared by rows however many rows it holds', () => {
  const v = judgeChunks([{ lo: 7, hi: 8 }], [{ rows: 9000, sum: '1' }], [{ rows: 9000, sum: '2' }], 2000, 16);
  assert.deepEqual(v.leaves, [{ lo: 7, hi: 8 }]);
  assert.deepEqual(v.next, []);
});

test('keyed rows: missing, extra and different keys', () => {
  const d = compareRows(
    [{ key: '1', hash: 'a', count: 1 }, { key: '2', hash: 'b', count: 1 }, { key: '3', hash: 'c', count: 1 }],
    [{ key: '2', hash: 'b', count: 1 }, { key: '3', hash: 'x', count: 1 }, { key: '4', hash: 'd', count: 1 }],
  );
  assert.deepEqual(d, { missing: ['1'], extra: ['4'], different: ['3'], missingRows: 1, extraRows: 1 });
});

test('rows without key compare as a multiset: duplicates count', () => {
  const d = compareRows(
    [{ key: '(1,a)', hash: '', count: 3 }, { key: '(2,b)', hash: '', count: 1 }],
    [{ key: '(1,a)', hash: '', count: 1 }, { key: '(2,b)', hash: '', count: 2 }, { key: '(3,c)', hash: '', count: 1 }],
  );
  assert.deepEqual(d, { missing: ['(1,a)'], extra: ['(2,b)', '(3,c)'], different: [], missingRows: 2, extraRows: 2 });
});
