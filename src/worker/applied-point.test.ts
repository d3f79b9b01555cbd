import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lsn, type Lsn } from '../core/lsn.ts';
import { appliedPoint, type PartitionPosition } from './applied-point.ts';

const at = (partition: number, l: number, nextOffset: number | null): PartitionPosition => ({
  partition,
  lsn: lsn(BigInt(l)) as Lsn,
  commitTime: new Date(l * 1000),
  nextOffset: nextOffset === null ? null : BigInt(nextOffset),
});

describe('appliedPoint', () => {
  const rows = [at(0, 500, 10), at(1, 200, 4), at(2, 300, 7)];

  it('is the oldest partition that still has records to apply', () => {
    const p = appliedPoint(rows, new Map([[0, 10n], [1, 9n], [2, 8n]]));
    assert.equal(p?.lsn, 200n);
    assert.deepEqual(p?.commitTime, new Date(200_000));
  });

  it('skips partitions that applied all they received', () => {
    assert.equal(appliedPoint(rows, new Map([[0, 10n], [1, 4n], [2, 8n]]))?.lsn, 300n);
  });

  it('is the newest position once every partition applied all it received', () => {
    assert.equal(appliedPoint(rows, new Map([[0, 10n], [1, 4n], [2, 7n]]))?.lsn, 500n);
  });

  it('counts every partition when the end offsets are unknown, and a partition without an offset as pending', () => {
    assert.equal(appliedPoint(rows, undefined)?.lsn, 200n);
    assert.equal(appliedPoint([at(0, 500, 10), at(1, 400, null)], new Map([[0, 10n], [1, 0n]]))?.lsn, 400n);
  });

  it('moves a partition behind the barrier row up to it', () => {
    assert.equal(appliedPoint([...rows, at(-1, 250, null)], undefined)?.lsn, 250n);
    assert.equal(appliedPoint([at(-1, 250, null)], undefined)?.lsn, 250n);
    assert.equal(appliedPoint([], undefined), undefined);
  });
});
