import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import type { ChunkStat, RowDigest } from './chunk-compare.ts';
import type { HashRange } from './hash-ranges.ts';
import type { HashedTable } from './hash-sql.ts';
import type { HashSide } from './snapshot-hasher.ts';
import { batchLeaves, checkTable, DEFAULT_TABLE_CHECK } from './table-check.ts';

test('leaves are grouped into requests of bounded rows; a large leaf goes alone', () => {
  const r = (lo: number) => ({ lo, hi: lo + 1 });
  const batches = batchLeaves([{ range: r(0), rows: 30 }, { range: r(1), rows: 30 }, { range: r(2), rows: 50 }, { range: r(3), rows: 200 }, { range: r(4), rows: 1 }], 100);
  assert.deepEqual(batches.map((b) => b.map((x) => x.lo)), [[0, 1], [2], [3], [4]]);
  assert.deepEqual(batchLeaves([], 100), []);
});

/** A side over rows in memory, answering as the SQL of hash-sql.ts does (its own hashes: only equality matters). */
class RowsInMemory implements HashSide {
  rounds = 0;
  constructor(readonly data: Map<string, string>) {}
  static #h(text: string, bytes: number): bigint {
    return BigInt(`0x${createHash('sha256').update(text).digest('hex').slice(0, bytes * 2)}`);
  }
  #inRanges(ranges: readonly HashRange[]): Map<number, [string, string][]> {
    const out = new Map<number, [string, string][]>();
    for (const [k, v] of this.data) {
      const h = Number(RowsInMemory.#h(k, 4));
      const i = ranges.findIndex((r) => h >= r.lo && h < r.hi);
      if (i >= 0) out.set(i, [...(out.get(i) ?? []), [k, v]]);
    }
    return out;
  }
  async stats(_t: HashedTable, ranges: readonly HashRange[]): Promise<ChunkStat[]> {
    this.rounds++;
    const by = this.#inRanges(ranges);
    return ranges.map((_r, i) => {
      const rows = by.get(i) ?? [];
      return { rows: rows.length, sum: String(rows.reduce((s, [k, v]) => s + RowsInMemory.#h(`${k}|${v}`, 8), 0n)) };
    });
  }
  async rows(_t: HashedTable, ranges: readonly HashRange[]): Promise<RowDigest[]> {
    return [...this.#inRanges(ranges).values()].flat().map(([k, v]) => ({ key: k, hash: String(RowsInMemory.#h(`${k}|${v}`, 8)), count: 1 }));
  }
}

test('bisection finds exactly the rows that differ, across rounds, and nothing for an equal table', async () => {
  const a = new Map(Array.from({ length: 30_000 }, (_, i) => [String(i + 1), `v${i}`] as [string, string]));
  const t = { schema: 'public', name: 't', keyColumns: ['id'], estimatedRows: a.size };
  const o = { ...DEFAULT_TABLE_CHECK, chunkRows: 5_000, leafRows: 200, fanout: 4 };
  const equal = await checkTable(t, new RowsInMemory(a), new RowsInMemory(new Map(a)), o);
  assert.equal(equal.equal, true);
  assert.equal(equal.rowsAtSource, 30_000);
  const b = new Map(a);
  for (let id = 100; id <= 149; id++) b.delete(String(id));
  b.set('7', 'changed');
  b.set('99999', 'new');
  const atB = new RowsInMemory(b);
  const r = await checkTable(t, new RowsInMemory(a), atB, o);
  assert.equal(r.equal, false);
  assert.deepEqual([r.missingAtDestination, r.extraAtDestination, r.different, r.rowsAtDestination], [50, 1, 1, 29_951]);
  assert.deepEqual(r.ranges.missing, [{ from: ['100'], to: ['149'], rows: 50 }]);
  assert.deepEqual(r.ranges.different, [{ from: ['7'], to: ['7'], rows: 1 }]);
  assert.ok(atB.rounds >= 2, 'chunks of 5,000 rows were cut finer before rows were compared');
  assert.equal(r.complete, true);
});
