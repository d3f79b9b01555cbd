import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHAIN_START, RecordChain, RecordGapError, sequenceOf, UnnumberedRecordError } from './record-sequence.ts';

const origin = { database: 'shop', topic: 'b.dcsync.s1.shop.changes', partition: 3 };

function read(chain: RecordChain, records: [offset: number, seq: number | undefined][]): void {
  for (const [offset, seq] of records) chain.check(String(offset), seq === undefined ? undefined : BigInt(seq));
}

describe('record sequence', () => {
  it('reads the header, and nothing that is not a number', () => {
    assert.equal(sequenceOf({ 'dcsync-seq': Buffer.from('42') }), 42n);
    assert.equal(sequenceOf({ 'dcsync-seq': '7' }), 7n);
    assert.equal(sequenceOf({}), undefined);
    assert.equal(sequenceOf({ 'dcsync-seq': '-1' }), undefined);
    assert.equal(sequenceOf({ 'dcsync-seq': '1e3' }), undefined);
  });

  it('accepts a gapless partition, with copies of earlier records', () => {
    const c = new RecordChain(origin, CHAIN_START, null);
    read(c, [[0, 0], [1, 1], [2, 2], [3, 1], [4, 2], [5, 3], [9, 4]]);
    assert.equal(c.mark, 4n);
  });

  it('stops at a partition whose first records are gone', () => {
    const c = new RecordChain(origin, CHAIN_START, null);
    assert.throws(
      () => c.check('0', 5n),
      (e: unknown) => e instanceof RecordGapError && e.missing.from === 0n && e.missing.to === 4n && /offsets 0–4 \(5 records\)/.test(e.message) && /'shop'/.test(e.message) && /partition 3/.test(e.message),
    );
  });

  it('stops at a hole after the stored mark', () => {
    const c = new RecordChain(origin, 100n, '250');
    read(c, [[250, 99], [251, 101]]);
    assert.throws(() => c.check('252', 103n), (e: unknown) => e instanceof RecordGapError && e.missing.from === 102n && e.missing.to === 102n && /offset 252/.test(e.message));
  });

  it('takes a recreated topic at B that starts over with copies', () => {
    const c = new RecordChain(origin, 3n, '900');
    read(c, [[0, 0], [1, 1], [2, 2], [3, 3], [4, 4]]);
    assert.equal(c.mark, 4n);
  });

  it('checks a window read again from the resolved point, not from the records read ahead', () => {
    const c = new RecordChain(origin, CHAIN_START, null);
    read(c, [[0, 0], [1, 1], [2, 2], [3, 3]]);
    c.resolved('1');
    c.beginBatch();
    // Read again from offset 2: records 2 and 3 vanished meanwhile, so record 4 is a gap from mark 1.
    assert.throws(() => c.check('4', 4n), RecordGapError);
    const d = new RecordChain(origin, CHAIN_START, null);
    read(d, [[0, 0], [1, 1], [2, 2], [3, 3]]);
    d.resolved('1');
    d.beginBatch();
    read(d, [[2, 2], [3, 3], [4, 4]]);
    assert.equal(d.mark, 4n);
  });

  it('a resolve before a record keeps the mark of the records before it', () => {
    const c = new RecordChain(origin, 10n, '20');
    read(c, [[20, 11], [21, 12]]);
    c.resolved('20');
    c.beginBatch();
    read(c, [[21, 12], [22, 13]]);
    c.resolved('22');
    c.beginBatch();
    assert.throws(() => c.check('22', 15n), RecordGapError); // read again from 23: mark 13
  });

  it('unnumbered records: allowed from an older source, refused after numbered ones', () => {
    const legacy = new RecordChain(origin, null, '5');
    read(legacy, [[5, undefined], [6, 1000]]);
    assert.equal(legacy.mark, 1000n);
    const fresh = new RecordChain(origin, CHAIN_START, null);
    read(fresh, [[0, undefined]]);
    assert.equal(fresh.mark, null);
    const numbered = new RecordChain(origin, CHAIN_START, null);
    read(numbered, [[0, 0]]);
    assert.throws(() => numbered.check('1', undefined), UnnumberedRecordError);
  });
});
