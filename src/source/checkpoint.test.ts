import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lsn, type Lsn } from '../core/lsn.ts';
import { Checkpoint, type SlotPosition } from './checkpoint.ts';

/** Records what the checkpoint tells the slot. */
class FakeSlot implements SlotPosition {
  readonly acknowledged: Lsn[] = [];
  written: Lsn = lsn(0n);
  received(l: Lsn): void {
    this.written = l;
  }
  acknowledge(l: Lsn): void {
    this.acknowledged.push(l);
  }
  get last(): Lsn | undefined {
    return this.acknowledged.at(-1);
  }
}

test('flushed advances only over acknowledged transactions, in order', () => {
  const slot = new FakeSlot();
  const c = new Checkpoint(slot, lsn(100n));
  c.commit(3, lsn(200n));
  c.commit(5, lsn(300n));
  assert.equal(c.flushed, 100n);
  c.acked(4);
  assert.equal(c.flushed, 200n);
  c.acked(5);
  assert.equal(c.flushed, 300n);
  assert.equal(c.received, 300n);
  assert.deepEqual(slot.acknowledged, [100n, 200n, 300n]);
  assert.equal(slot.written, 300n);
});

test('a transaction with nothing to send is flushed once everything before it is', () => {
  const slot = new FakeSlot();
  const c = new Checkpoint(slot, lsn(1n));
  c.commit(7, lsn(10n));
  c.commit(7, lsn(20n));
  assert.equal(c.flushed, 1n);
  c.acked(7);
  assert.equal(c.flushed, 20n);
  c.commit(7, lsn(30n));
  assert.equal(c.flushed, 30n);
  assert.deepEqual(slot.acknowledged, [1n, 10n, 20n, 30n]);
});

test('keepalive walEnd is confirmed only when idle and caught up', () => {
  const slot = new FakeSlot();
  const c = new Checkpoint(slot, lsn(1n));
  c.idle(lsn(50n), true, true);
  assert.equal(c.flushed, 1n);
  c.idle(lsn(50n), false, false);
  assert.equal(c.flushed, 1n);
  c.commit(2, lsn(60n));
  c.idle(lsn(70n), false, true);
  assert.equal(c.flushed, 1n, 'a pending transaction blocks the walEnd');
  c.acked(2);
  c.idle(lsn(70n), false, true);
  assert.equal(c.flushed, 70n);
  assert.equal(slot.last, 70n);
  assert.equal(slot.written, 70n);
});

test('the slot is told only what the sink acknowledged, never less than before (random interleavings)', () => {
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n);
  for (let round = 0; round < 200; round++) {
    const slot = new FakeSlot();
    const c = new Checkpoint(slot, lsn(1n));
    const commits: { seq: number; lsn: Lsn }[] = [];
    let enqueued = 0;
    let acked = 0;
    let end = 1n;
    for (let step = 0; step < 60; step++) {
      if (rand(3) > 0) {
        enqueued += rand(3); // a transaction may add no record
        end += BigInt(1 + rand(100));
        commits.push({ seq: enqueued, lsn: lsn(end) });
        c.commit(enqueued, lsn(end));
      } else if (acked < enqueued) {
        acked += 1 + rand(enqueued - acked);
        c.acked(acked);
      }
      // Durable: the end of the newest transaction whose records, and every earlier one's, are acknowledged.
      let durable = 1n;
      for (const t of commits) {
        if (t.seq > acked) break;
        durable = t.lsn;
      }
      assert.equal(c.flushed, durable);
      assert.equal(slot.last, durable);
    }
    for (let i = 1; i < slot.acknowledged.length; i++) assert.ok(slot.acknowledged[i]! > slot.acknowledged[i - 1]!, 'only forward');
  }
});
