import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError } from '../../core/errors.ts';
import { lsn } from '../../core/lsn.ts';
import { decodeChangeBatch, decodeSnapshotRecord, encodeChangeBatch, encodeSnapshotRecord, EntryOrigin, type ChangeStreamRecord } from './index.ts';

const origin = { xid: 4242, commitTimeUs: 1_764_150_000_123_456n };

test('a change batch round-trips every entry kind with its own origin', () => {
  const entries: ChangeStreamRecord[] = [
    {
      ...origin,
      kind: 'change',
      pos: { lsn: lsn(0x1_0000_0001n), index: 0 },
      endOfTx: false,
      change: { op: 'insert', table: { schema: 'public', name: 'tä"b' }, keyColumns: ['id'], fullIdentity: false, columns: ['id', 'v'], values: ['1', null] },
    },
    {
      ...origin,
      kind: 'change',
      pos: { lsn: lsn(0x1_0000_0001n), index: 1 },
      endOfTx: true,
      change: { op: 'update', table: { schema: 's', name: 't' }, keyColumns: ['id'], fullIdentity: false, columns: ['id', 'big'], values: ['1', null], unchanged: [1], oldKey: ['0'] },
    },
    { ...origin, kind: 'barrier', pos: { lsn: lsn(0xffff_ffff_ffff_fff0n), index: 7 }, endOfTx: true, barrier: { type: 'truncate', tables: [{ schema: 'a', name: 'b' }], cascade: false, restartIdentity: true } },
    { ...origin, kind: 'commit', pos: { lsn: lsn(5n), index: 9 } },
    { kind: 'heartbeat', pos: { lsn: lsn(6n), index: -1 }, xid: 0, commitTimeUs: 1n },
  ];
  const rec = encodeChangeBatch('db😀', entries);
  assert.equal(rec.headers['dcsync-db'], 'db😀');
  assert.equal(rec.headers['dcsync-lsn'], '1/1');
  assert.equal(rec.headers['dcsync-idx'], '0');
  assert.equal(rec.headers['dcsync-xid'], '4242');
  assert.equal(rec.headers['dcsync-ts'], '1764150000123456');
  assert.equal(rec.headers['dcsync-last'], '0/6:-1:5');
  const back = decodeChangeBatch(
    Object.fromEntries(Object.entries(rec.headers).map(([k, v]) => [k, Buffer.from(v)])),
    rec.value,
  );
  assert.deepEqual(back.slice(0, 3), entries.slice(0, 3));
  assert.deepEqual(back[3], { ...entries[3], kind: 'commit' });
  assert.equal(back[4]!.kind, 'heartbeat');
});

test('snapshot records round-trip, chunk data compressed', () => {
  const data = Buffer.from('1\tx\n2\t\\N\n'.repeat(1000));
  const rec = encodeSnapshotRecord('d', { kind: 'chunk', table: { schema: 'p', name: 'q.r' }, snapshotLsn: lsn(77n), chunk: 3, part: 2, last: true, rows: 2000, data });
  assert.ok(rec.value.length < data.length / 10);
  const back = decodeSnapshotRecord(rec.headers, rec.value);
  assert.deepEqual(back, { kind: 'chunk', table: { schema: 'p', name: 'q.r' }, snapshotLsn: 77n, chunk: 3, part: 2, last: true, rows: 2000, data });
  const end = decodeSnapshotRecord(...(() => {
    const r = encodeSnapshotRecord('d', { kind: 'snapshot-end', snapshotLsn: lsn(9n), postData: 'CREATE INDEX …;', tables: [{ schema: 'a', name: 'b' }] });
    return [r.headers, r.value] as const;
  })());
  assert.deepEqual(end, { kind: 'snapshot-end', snapshotLsn: 9n, postData: 'CREATE INDEX …;', tables: [{ schema: 'a', name: 'b' }] });
});

test('a body that is not format 3 (the JSON formats 1 and 2 of older dcsync) is refused', () => {
  for (const body of ['[["c","0/1",0,7,"1",1,{}]]', '{"v":2,"r":[],"e":[]}']) {
    assert.throws(() => decodeChangeBatch({ 'dcsync-kind': 'batch' }, Buffer.from(body)), (e: unknown) => e instanceof ProtocolError && /unknown change batch format/.test(e.message));
  }
  assert.throws(() => decodeChangeBatch({ 'dcsync-kind': 'batch' }, Buffer.alloc(0)), /empty change batch/);
});

test('bodies are Brotli-compressed; gzip bodies of older dcsync and small plain bodies still decode', async () => {
  const { brotliDecompressSync, gzipSync } = await import('node:zlib');
  const entries: ChangeStreamRecord[] = Array.from({ length: 40 }, (_, i) => ({
    kind: 'change',
    pos: { lsn: lsn(100n), index: i },
    xid: 9,
    commitTimeUs: 5n,
    endOfTx: i === 39,
    change: { op: 'insert', table: { schema: 's', name: 't' }, keyColumns: ['id'], fullIdentity: false, columns: ['id', 'v'], values: [String(i), 'x'.repeat(30)] },
  }));
  const rec = encodeChangeBatch('d', entries);
  assert.equal(rec.headers['dcsync-enc'], 'br');
  const body = brotliDecompressSync(rec.value);
  assert.ok(rec.value.length < body.length / 3);
  assert.deepEqual(decodeChangeBatch({ ...rec.headers, 'dcsync-enc': 'gzip' }, gzipSync(body)), entries);
  const small = encodeChangeBatch('d', entries.slice(0, 1));
  assert.equal(small.headers['dcsync-enc'], undefined);
  assert.deepEqual(decodeChangeBatch(small.headers, small.value), entries.slice(0, 1));
  assert.throws(() => decodeChangeBatch({ ...rec.headers, 'dcsync-enc': 'lzma' }, rec.value), /unknown record encoding 'lzma'/);
});

test('EntryOrigin.ofBegin reads a pgoutput Begin as the constructor encodes its decoded values', () => {
  const PG_EPOCH = 946_684_800_000_000n;
  let x = 12345n;
  const next = (): bigint => (x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffff_ffff_ffff_ffffn);
  const times = [0n, -1n, -PG_EPOCH, -PG_EPOCH - 1n, 817_000_000_000_000n, 2n ** 53n - PG_EPOCH - 1n, 2n ** 53n - PG_EPOCH, 2n ** 62n];
  for (let i = 0; i < 500; i++) {
    const finalLsn = i < 3 ? [0n, 2n ** 64n - 1n, 2n ** 63n][i]! : next();
    const commitTime = i < times.length ? times[i]! : BigInt.asIntN(64, next()) >> BigInt(i % 20);
    const xid = Number(next() & 0xffff_ffffn);
    const begin = Buffer.alloc(21);
    begin[0] = 0x42;
    begin.writeBigUInt64BE(finalLsn, 1);
    begin.writeBigInt64BE(commitTime, 9);
    begin.writeUInt32BE(xid, 17);
    const want = EntryOrigin.of(lsn(finalLsn), xid, BigInt.asIntN(64, commitTime + PG_EPOCH));
    const got = EntryOrigin.ofBegin(begin);
    const [gotBytes, wantBytes] = [Buffer.alloc(20), Buffer.alloc(20)];
    got.writeTo(gotBytes, 0);
    want.writeTo(wantBytes, 0);
    assert.ok(gotBytes.equals(wantBytes), `lsn ${finalLsn} time ${commitTime} xid ${xid}`);
    assert.equal(wantBytes.readBigUInt64BE(0), finalLsn);
    assert.equal(wantBytes.readBigInt64BE(12), BigInt.asIntN(64, commitTime + PG_EPOCH));
    assert.equal(got.lsn, want.lsn);
    assert.equal(got.xid, xid);
    assert.equal(got.commitTimeUs, want.commitTimeUs);
    assert.ok(got.sameAs(want));
    const framed = Buffer.concat([Buffer.from('xy'), begin, Buffer.from('z')]);
    assert.ok(EntryOrigin.ofBegin(framed, 2, 23).sameAs(want), 'inside a larger buffer');
  }
  assert.throws(() => EntryOrigin.ofBegin(Buffer.alloc(30), 2, 22), /Begin of 20 bytes, expected 21/);
});
