import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lsn } from '../../core/lsn.ts';
import { decodeChangeBatch, encodeChangeBatch, EntryOrigin } from './writer.ts';
import { decodeSnapshotRecord, encodeSnapshotRecord, type ChangeStreamRecord } from './envelope.ts';
import { decodeDatabaseToken, encodeDatabaseToken, parseRemoteTopic, remoteTopicName, topicName } from '../topics.ts';

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

test('database names become reversible topic tokens; remote names follow MirrorMaker policies', () => {
  for (const db of ['app', 'my_db', 'Über DB', 'a.b-c', '😀']) {
    const token = encodeDatabaseToken(db);
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.equal(decodeDatabaseToken(token), db);
    const t = topicName('s1', db, 'changes');
    assert.deepEqual(parseRemoteTopic('default', 'A', 's1', remoteTopicName('default', 'A', t)), { database: db, kind: 'changes' });
    assert.deepEqual(parseRemoteTopic('identity', 'A', 's1', remoteTopicName('identity', 'A', t)), { database: db, kind: 'changes' });
  }
  assert.equal(parseRemoteTopic('default', 'A', 's1', 'dcsync.s1.app.changes'), undefined);
  assert.equal(parseRemoteTopic('default', 'A', 's1', 'A.dcsync.s2.app.changes'), undefined);
});

function v1Record(entries: ChangeStreamRecord[], entryToJson: (r: ChangeStreamRecord) => unknown): [Record<string, string>, Buffer] {
  const rec = encodeChangeBatch('d', entries);
  const headers = { ...rec.headers };
  delete headers['dcsync-enc'];
  return [headers, Buffer.from(JSON.stringify(entries.map(entryToJson)))];
}

test('batches in the version-1 form (a list of entries, written by older dcsync) still decode', async () => {
  const { entryToJson } = await import('./envelope.ts');
  const cols = ['id', 'a "q"', 'b\\c'];
  const entries: ChangeStreamRecord[] = [
    { ...origin, kind: 'change', pos: { lsn: lsn(1n), index: 0 }, endOfTx: true, change: { op: 'insert', table: { schema: 's"', name: 'n\n' }, keyColumns: ['id'], fullIdentity: true, columns: cols, values: ['1', null, 'x\u0000y😀'] } },
    { ...origin, kind: 'change', pos: { lsn: lsn(2n), index: 1 }, endOfTx: false, change: { op: 'update', table: { schema: 's', name: 'n' }, keyColumns: ['id'], fullIdentity: false, columns: cols, values: ['1', null, ''], unchanged: [1], oldKey: ['0'] } },
    { ...origin, kind: 'change', pos: { lsn: lsn(2n), index: 2 }, endOfTx: false, change: { op: 'update', table: { schema: 's', name: 'n' }, keyColumns: ['id'], fullIdentity: false, columns: cols, values: ['2', 'x', 'y'], unchanged: [] } },
    { ...origin, kind: 'change', pos: { lsn: lsn(3n), index: 2 }, endOfTx: false, change: { op: 'delete', table: { schema: 's', name: 'n' }, keyColumns: ['id'], fullIdentity: false, oldKey: ['7'] } },
    { ...origin, kind: 'barrier', pos: { lsn: lsn(4n), index: 3 }, endOfTx: false, barrier: { type: 'table-failed', table: { schema: 's', name: 'n' }, reason: 'r "x"' } },
  ];
  assert.deepEqual(decodeChangeBatch(...v1Record(entries, entryToJson)), entries);
});

test('batches in the version-2 form (JSON, written by older dcsync) still decode, sharing table and column arrays', () => {
  const body = {
    v: 2,
    r: [['s', 'n', ['id'], ['id', 'v'], 0]],
    e: [
      ['c', '0/64', 0, 7, '1000000', 0, [0, 'i', ['1', 'x']]],
      ['c', 0, 1, 7, 0, 1, [0, 'u', ['1', null], [1]]],
      ['c', '0/65', 0, 8, '1000001', 1, [0, 'd', ['1']]],
      ['m', '0/66', 3, 9, '5', 1],
    ],
  };
  const t = { schema: 's', name: 'n' };
  const key = ['id'];
  const cols = ['id', 'v'];
  const back = decodeChangeBatch({ 'dcsync-kind': 'batch' }, Buffer.from(JSON.stringify(body)));
  assert.deepEqual(back, [
    { kind: 'change', pos: { lsn: lsn(0x64n), index: 0 }, xid: 7, commitTimeUs: 1_000_000n, endOfTx: false, change: { op: 'insert', table: t, keyColumns: key, fullIdentity: false, columns: cols, values: ['1', 'x'] } },
    { kind: 'change', pos: { lsn: lsn(0x64n), index: 1 }, xid: 7, commitTimeUs: 1_000_000n, endOfTx: true, change: { op: 'update', table: t, keyColumns: key, fullIdentity: false, columns: cols, values: ['1', null], unchanged: [1] } },
    { kind: 'change', pos: { lsn: lsn(0x65n), index: 0 }, xid: 8, commitTimeUs: 1_000_001n, endOfTx: true, change: { op: 'delete', table: t, keyColumns: key, fullIdentity: false, oldKey: ['1'] } },
    { kind: 'commit', pos: { lsn: lsn(0x66n), index: 3 }, xid: 9, commitTimeUs: 5n },
  ]);
  const a = back[0]!;
  const b = back[1]!;
  assert.ok(a.kind === 'change' && b.kind === 'change' && a.change.table === b.change.table && a.change.op !== 'delete' && b.change.op !== 'delete' && a.change.columns === b.change.columns);
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
