import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lsn } from '../core/lsn.ts';
import { Checkpoint } from './checkpoint.ts';

test('flushed advances only over acknowledged transactions, in order', () => {
  const c = new Checkpoint(lsn(100n));
  c.commit(3, lsn(200n));
  c.commit(5, lsn(300n));
  assert.equal(c.flushed, 100n);
  c.acked(4);
  assert.equal(c.flushed, 200n);
  c.acked(5);
  assert.equal(c.flushed, 300n);
  assert.equal(c.received, 300n);
});

test('a transaction with nothing to send is flushed once everything before it is', () => {
  const c = new Checkpoint(lsn(1n));
  c.commit(7, lsn(10n));
  c.commit(7, lsn(20n));
  assert.equal(c.flushed, 1n);
  c.acked(7);
  assert.equal(c.flushed, 20n);
  c.commit(7, lsn(30n));
  assert.equal(c.flushed, 30n);
});

test('keepalive walEnd is confirmed only when idle and caught up', () => {
  const c = new Checkpoint(lsn(1n));
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
});
