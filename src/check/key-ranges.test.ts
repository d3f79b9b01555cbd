import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keyRangesOf, keyValues } from './key-ranges.ts';

test('consecutive integer keys merge into ranges, in key order', () => {
  const { ranges, omitted } = keyRangesOf(['12', '10', '11', '20', '-1', '100000000000000000001', '100000000000000000000'], 1, 10);
  assert.deepEqual(ranges, [
    { from: ['-1'], to: ['-1'], rows: 1 },
    { from: ['10'], to: ['12'], rows: 3 },
    { from: ['20'], to: ['20'], rows: 1 },
    { from: ['100000000000000000000'], to: ['100000000000000000001'], rows: 2 },
  ]);
  assert.equal(omitted, 0);
});

test('text and composite keys are each their own range; the list is bounded', () => {
  assert.deepEqual(keyRangesOf(['b', 'a'], 1, 10).ranges, [{ from: ['a'], to: ['a'], rows: 1 }, { from: ['b'], to: ['b'], rows: 1 }]);
  const composite = keyRangesOf(['["2","x"]', '["10","a"]', '["2","b"]'], 2, 2);
  assert.deepEqual(composite.ranges, [{ from: ['2', 'b'], to: ['2', 'b'], rows: 1 }, { from: ['2', 'x'], to: ['2', 'x'], rows: 1 }]);
  assert.equal(composite.omitted, 1);
});

test('a composite key text is the JSON array the SQL builds', () => {
  assert.deepEqual(keyValues('["1","a,b"]', 2), ['1', 'a,b']);
  assert.deepEqual(keyValues('(1,a)', 1), ['(1,a)']);
  assert.throws(() => keyValues('"x"', 2), RangeError);
});
