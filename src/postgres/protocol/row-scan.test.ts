import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError } from '../../core/errors.ts';
import type { PgOutputMessage } from './messages.ts';
import { hasValue, RowScan, valueLength } from './row-scan.ts';
import { encodePgOutput } from './test-frames.ts';

const update: PgOutputMessage = {
  tag: 'update',
  relationId: 0xfffffff0,
  oldKind: 'O',
  oldTuple: [{ kind: 'text', value: 'ké' }, { kind: 'null' }, { kind: 'text', value: '' }],
  newTuple: [{ kind: 'text', value: 'k2' }, { kind: 'unchanged' }, { kind: 'text', value: 'v' }],
};

test('a row message is scanned into tuple and column offsets without decoding it', () => {
  const buf = encodePgOutput(update);
  const s = new RowScan();
  s.scan(buf);
  assert.equal(s.relationId, 0xfffffff0);
  assert.equal(String.fromCharCode(s.oldKind), 'O');
  assert.equal(s.oldMarker, 5);
  assert.equal(buf[s.newMarker], 0x4e);
  assert.deepEqual([s.oldCount, s.newCount, s.newHasUnchanged, s.binaryColumn], [3, 3, true, -1]);
  const text = (at: number): string | null => (hasValue(buf, at) ? buf.toString('utf8', at + 5, at + 5 + valueLength(buf, at)) : null);
  assert.deepEqual([0, 1, 2].map((i) => text(s.oldCols[i]!)), ['ké', null, '']);
  assert.deepEqual([0, 1, 2].map((i) => text(s.newCols[i]!)), ['k2', null, 'v']);
  // More columns than the scanner's initial offset arrays hold.
  const wide = encodePgOutput({ tag: 'insert', relationId: 1, newTuple: Array.from({ length: 100 }, (_, i) => ({ kind: 'text', value: String(i) })) });
  s.scan(wide);
  assert.deepEqual([s.oldMarker, s.newMarker, s.newCount, s.newHasUnchanged], [-1, 5, 100, false]);
  assert.equal(wide.toString('utf8', s.newCols[99]! + 5, s.newCols[99]! + 5 + valueLength(wide, s.newCols[99]!)), '99');
});

test('a row message inside a larger buffer is scanned in place: offsets are positions in that buffer', () => {
  const bytes = encodePgOutput(update);
  const buf = Buffer.concat([Buffer.from('framing'), bytes, Buffer.from([0x4e, 0, 1])]);
  const s = new RowScan();
  s.scan(buf, 7, 7 + bytes.length);
  assert.equal(s.relationId, 0xfffffff0);
  assert.equal(s.oldMarker, 7 + 5);
  assert.equal(buf[s.newMarker], 0x4e);
  const text = (at: number): string | null => (hasValue(buf, at) ? buf.toString('utf8', at + 5, at + 5 + valueLength(buf, at)) : null);
  assert.deepEqual([0, 1, 2].map((i) => text(s.newCols[i]!)), ['k2', null, 'v']);
  // The bytes after the message are not part of it, however they look.
  for (let n = 0; n < bytes.length; n++) assert.throws(() => s.scan(buf, 7, 7 + n), ProtocolError, `cut at ${n}`);
  assert.throws(() => s.scan(buf, 7, 8 + bytes.length), ProtocolError);
});

test('every truncation and a trailing byte are ProtocolErrors', () => {
  const s = new RowScan();
  for (const m of [update, { tag: 'delete', relationId: 3, oldKind: 'K', oldTuple: [{ kind: 'text', value: 'x' }] }, { tag: 'insert', relationId: 3, newTuple: [{ kind: 'null' }] }] as PgOutputMessage[]) {
    const buf = encodePgOutput(m);
    for (let n = 0; n < buf.length; n++) assert.throws(() => s.scan(buf.subarray(0, n)), ProtocolError, `${m.tag} cut at ${n}`);
    assert.throws(() => s.scan(Buffer.concat([buf, Buffer.from([0])])), ProtocolError);
  }
  assert.throws(() => s.scan(encodePgOutput({ tag: 'begin', finalLsn: 1n as never, commitTime: 0n, xid: 1 })), ProtocolError);
});
