import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LagHistory } from './lag-history.ts';

const db = (database: string, lagSeconds: number | null, lagBytes: number | null) => ({ database, lagSeconds, lagBytes });

test('keeps one series per database, oldest sample first, databases by name', () => {
  const h = new LagHistory({ intervalMs: 1_000, windowMs: 10_000 });
  h.record(1_000, [db('shop', 1.5, 100), db('inventory', null, null)]);
  h.record(2_000, [db('shop', 0, 0), db('inventory', 2, 20)]);
  const s = h.snapshot(2_000, 'master-1');
  assert.deepEqual(s, {
    intervalMs: 1_000,
    windowMs: 10_000,
    answeredBy: 'master-1',
    databases: [
      { database: 'inventory', samples: [[1_000, null, null], [2_000, 2, 20]] },
      { database: 'shop', samples: [[1_000, 1.5, 100], [2_000, 0, 0]] },
    ],
  });
});

test('drops samples older than the window and forgets a database without samples in it', () => {
  const h = new LagHistory({ intervalMs: 1_000, windowMs: 3_000 });
  h.record(0, [db('gone', 1, 1), db('kept', 1, 1)]);
  h.record(2_000, [db('kept', 2, 2)]);
  h.record(4_000, [db('kept', 3, 3)]);
  const s = h.snapshot(4_000, 'm');
  assert.deepEqual(s.databases, [{ database: 'kept', samples: [[2_000, 2, 2], [4_000, 3, 3]] }]);
  assert.deepEqual(h.snapshot(60_000, 'm').databases, []);
});

test('never holds more than window / interval + 1 samples per database, even when sampled faster', () => {
  const h = new LagHistory({ intervalMs: 1_000, windowMs: 5_000 });
  for (let t = 0; t < 100; t++) h.record(10_000 + t * 10, [db('shop', t, t)]);
  const samples = h.snapshot(11_000, 'm').databases[0]!.samples;
  assert.equal(samples.length, 6);
  assert.equal(samples.at(-1)![1], 99);
});

test('refuses an interval larger than the window', () => {
  assert.throws(() => new LagHistory({ intervalMs: 10_000, windowMs: 1_000 }), RangeError);
});
