import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../core/errors.ts';
import { lsn, parseLsn } from '../../core/lsn.ts';
import type { PgOutputMessage, Tuple, TupleValue } from './messages.ts';
import { PgOutputDecoder } from './pgoutput.ts';
import { BufferBuilder, encodePgOutput, writeTuple } from './test-frames.ts';

const text = (value: string): TupleValue => ({ kind: 'text', value });
const binary = (value: Buffer): TupleValue => ({ kind: 'binary', value });
const NULL: TupleValue = { kind: 'null' };
const UNCHANGED: TupleValue = { kind: 'unchanged' };

const HIGH_LSN = lsn(0x1_0000_0001n); // above 2^32
const MAX_LSN = lsn(0xffff_ffff_ffff_ffffn); // 2^64 - 1
const NEAR_MAX_LSN = lsn(0xffff_ffff_ffff_fff0n);
const MAX_U32 = 0xffff_ffff;

const tuple: Tuple = [text('42'), NULL, UNCHANGED, binary(Buffer.from([0, 1, 0xfe, 0xff])), text('😀 𝄞 ✓ é')];

/** Messages outside a stream block (protocol v1 and v2 alike): one of every kind. */
const V1_MESSAGES: PgOutputMessage[] = [
  { tag: 'begin', finalLsn: HIGH_LSN, commitTime: 784_111_222_333_444n, xid: MAX_U32 },
  { tag: 'commit', flags: 0, commitLsn: NEAR_MAX_LSN, endLsn: MAX_LSN, commitTime: -1n },
  { tag: 'origin', originLsn: parseLsn('16/B374D848'), name: 'dc-east' },
  {
    tag: 'relation',
    relationId: 0x8000_0001,
    schema: 'public',
    name: 'accounts_ü',
    replicaIdentity: 'd',
    columns: [
      { isKey: true, name: 'id', typeOid: 23, typeMod: -1 },
      { isKey: false, name: 'name', typeOid: 1043, typeMod: 68 },
      { isKey: false, name: 'blob', typeOid: 17, typeMod: -1 },
    ],
  },
  { tag: 'relation', relationId: 1, schema: '', name: 'empty', replicaIdentity: 'n', columns: [] },
  { tag: 'type', typeOid: 0xffff_fff0, schema: 'public', name: 'mood' },
  { tag: 'insert', relationId: 16_385, newTuple: tuple },
  { tag: 'insert', relationId: 16_385, newTuple: [] },
  { tag: 'update', relationId: 16_385, newTuple: tuple },
  { tag: 'update', relationId: 16_385, oldKind: 'K', oldTuple: [text('1'), NULL], newTuple: [text('2'), UNCHANGED] },
  { tag: 'update', relationId: 16_385, oldKind: 'O', oldTuple: tuple, newTuple: tuple },
  { tag: 'delete', relationId: 16_385, oldKind: 'K', oldTuple: [text('1')] },
  { tag: 'delete', relationId: 16_385, oldKind: 'O', oldTuple: tuple },
  { tag: 'truncate', cascade: true, restartIdentity: false, relationIds: [16_385, MAX_U32] },
  { tag: 'truncate', cascade: false, restartIdentity: true, relationIds: [] },
  { tag: 'message', transactional: true, lsn: HIGH_LSN, prefix: 'dcsync.ddl', content: Buffer.from('ALTER TABLE t …') },
  { tag: 'message', transactional: false, lsn: MAX_LSN, prefix: '', content: Buffer.alloc(0) },
  { tag: 'stream_commit', xid: 7, flags: 0, commitLsn: HIGH_LSN, endLsn: MAX_LSN, commitTime: 1n },
  { tag: 'stream_abort', xid: 7, subXid: 8 },
  { tag: 'stream_abort', xid: MAX_U32, subXid: MAX_U32 },
];

/** Messages that appear between Stream Start and Stream Stop (protocol v2): data messages carry the xid. */
const STREAMED_MESSAGES: PgOutputMessage[] = [
  {
    tag: 'relation',
    xid: MAX_U32,
    relationId: 16_385,
    schema: 'public',
    name: 't',
    replicaIdentity: 'f',
    columns: [{ isKey: true, name: 'id', typeOid: 20, typeMod: -1 }],
  },
  { tag: 'type', xid: 9, typeOid: 16_400, schema: 'public', name: 'mood' },
  { tag: 'insert', xid: 9, relationId: 16_385, newTuple: tuple },
  { tag: 'update', xid: 10, relationId: 16_385, newTuple: tuple },
  { tag: 'update', xid: 10, relationId: 16_385, oldKind: 'O', oldTuple: tuple, newTuple: [NULL] },
  { tag: 'delete', xid: 11, relationId: 16_385, oldKind: 'K', oldTuple: [text('x')] },
  { tag: 'truncate', xid: 12, cascade: true, restartIdentity: true, relationIds: [1, 2, 3] },
  { tag: 'message', xid: 13, transactional: true, lsn: HIGH_LSN, prefix: 'p', content: Buffer.from([0, 0xff]) },
  { tag: 'origin', originLsn: lsn(0n), name: 'o' },
];

function decoderInStream(xid = 9): PgOutputDecoder {
  const d = new PgOutputDecoder();
  d.decode(encodePgOutput({ tag: 'stream_start', xid, firstSegment: true }));
  assert.equal(d.inStreamBlock, true);
  return d;
}

function assertProtocolError(fn: () => unknown, pattern?: RegExp): ProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ProtocolError, `expected ProtocolError, got ${String(caught)}`);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

describe('PgOutputDecoder: hand-built bytes', () => {
  test('Begin', () => {
    const buf = Buffer.from(
      '42' + '0000001600000100' + '0000000000000064' + 'fffffffe', // B, final LSN 16/100, 100 µs, xid 2^32-2
      'hex',
    );
    assert.deepEqual(new PgOutputDecoder().decode(buf), {
      tag: 'begin',
      finalLsn: parseLsn('16/100'),
      commitTime: 100n,
      xid: 0xffff_fffe,
    });
  });

  test('Insert v1 with every column kind', () => {
    const buf = new BufferBuilder()
      .byte('I')
      .uint32(16_385)
      .byte('N')
      .int16(5)
      .byte('t').int32(2).bytes(Buffer.from('42'))
      .byte('n')
      .byte('u')
      .byte('b').int32(3).bytes(Buffer.from([1, 2, 3]))
      .byte('t').int32(4).bytes(Buffer.from([0xf0, 0x9f, 0x98, 0x80])) // U+1F600, 4-byte UTF-8
      .build();
    assert.deepEqual(new PgOutputDecoder().decode(buf), {
      tag: 'insert',
      relationId: 16_385,
      newTuple: [text('42'), NULL, UNCHANGED, binary(Buffer.from([1, 2, 3])), text('😀')],
    });
  });

  test('Insert v2 inside a stream block reads the xid first', () => {
    const d = new PgOutputDecoder();
    const start = d.decode(Buffer.from('53' + '000003e8' + '01', 'hex'));
    assert.deepEqual(start, { tag: 'stream_start', xid: 1000, firstSegment: true });
    const insert = Buffer.from('49' + '000003e9' + '00004001' + '4e' + '0001' + '6e', 'hex');
    assert.deepEqual(d.decode(insert), { tag: 'insert', xid: 1001, relationId: 0x4001, newTuple: [NULL] });
    assert.deepEqual(d.decode(Buffer.from('45', 'hex')), { tag: 'stream_stop' });
    assert.equal(d.inStreamBlock, false);
    // The same 'I' bytes outside the block: the xid would be read as the relation id, then the marker is wrong.
    assertProtocolError(() => d.decode(insert), /Insert.*expected tuple marker 'N'/);
  });

  test('Stream Start with firstSegment 0', () => {
    const d = new PgOutputDecoder();
    assert.deepEqual(d.decode(Buffer.from('530000000700', 'hex')), { tag: 'stream_start', xid: 7, firstSegment: false });
  });

  test('Relation column flags: only bit 0 marks a key column', () => {
    const buf = new BufferBuilder()
      .byte('R').uint32(5).cstring('s').cstring('t').byte('i').int16(2)
      .byte(1).cstring('a').uint32(23).int32(-1)
      .byte(0).cstring('b').uint32(25).int32(-1)
      .build();
    const m = new PgOutputDecoder().decode(buf);
    assert.equal(m.tag, 'relation');
    assert.deepEqual(
      m.columns.map((c) => c.isKey),
      [true, false],
    );
    assert.equal(m.replicaIdentity, 'i');
  });
});

describe('PgOutputDecoder: every message type', () => {
  for (const m of V1_MESSAGES) {
    test(`v1 ${m.tag} ${describeShape(m)}`, () => {
      assert.deepEqual(new PgOutputDecoder().decode(encodePgOutput(m)), m);
    });
  }

  for (const m of STREAMED_MESSAGES) {
    test(`v2 streamed ${m.tag} ${describeShape(m)}`, () => {
      const d = decoderInStream();
      assert.deepEqual(d.decode(encodePgOutput(m)), m);
      assert.equal(d.inStreamBlock, true);
    });
  }

  test('a full streamed transaction: two blocks, then Stream Commit', () => {
    const d = new PgOutputDecoder();
    const seq: PgOutputMessage[] = [
      { tag: 'stream_start', xid: 500, firstSegment: true },
      { tag: 'origin', originLsn: HIGH_LSN, name: 'east' },
      STREAMED_MESSAGES[0]!,
      { tag: 'insert', xid: 500, relationId: 16_385, newTuple: [text('1')] },
      { tag: 'stream_stop' },
      { tag: 'begin', finalLsn: HIGH_LSN, commitTime: 5n, xid: 501 },
      { tag: 'insert', relationId: 16_385, newTuple: [text('other')] },
      { tag: 'commit', flags: 0, commitLsn: HIGH_LSN, endLsn: HIGH_LSN, commitTime: 5n },
      { tag: 'stream_start', xid: 500, firstSegment: false },
      { tag: 'delete', xid: 502, relationId: 16_385, oldKind: 'K', oldTuple: [text('1')] },
      { tag: 'stream_stop' },
      { tag: 'stream_abort', xid: 500, subXid: 502 },
      { tag: 'stream_commit', xid: 500, flags: 0, commitLsn: NEAR_MAX_LSN, endLsn: MAX_LSN, commitTime: 6n },
    ];
    for (const m of seq) assert.deepEqual(d.decode(encodePgOutput(m)), m);
    assert.equal(d.inStreamBlock, false);
  });

  test('no xid key at all outside a stream block', () => {
    const m = new PgOutputDecoder().decode(encodePgOutput({ tag: 'insert', relationId: 1, newTuple: [] }));
    assert.equal(Object.hasOwn(m, 'xid'), false);
    const u = new PgOutputDecoder().decode(encodePgOutput({ tag: 'update', relationId: 1, newTuple: [] }));
    assert.equal(Object.hasOwn(u, 'oldKind'), false);
    assert.equal(Object.hasOwn(u, 'oldTuple'), false);
  });
});

describe('PgOutputDecoder: tuple values', () => {
  const d = new PgOutputDecoder();
  const roundTrip = (newTuple: Tuple): Tuple => {
    const m = d.decode(encodePgOutput({ tag: 'insert', relationId: 1, newTuple }));
    assert.equal(m.tag, 'insert');
    return m.newTuple;
  };

  test('unicode: 4-byte UTF-8, combining marks, CJK, NUL inside a value', () => {
    const values = ['😀', '𝄞𝄞', 'a😀b', 'e\u0301', '日本語', 'nul\u0000inside', '', '\u{10FFFF}'];
    assert.deepEqual(roundTrip(values.map(text)), values.map(text));
  });

  test('null, unchanged and binary values', () => {
    const t: Tuple = [NULL, UNCHANGED, binary(Buffer.alloc(0)), binary(Buffer.from([0xc3, 0x28])), NULL];
    assert.deepEqual(roundTrip(t), t);
  });

  test('large values: a 4 MiB text value and a 1 MiB binary value', () => {
    const big = '😀'.repeat(1 << 20); // 4 MiB of UTF-8
    const blob = Buffer.alloc(1 << 20, 0xab);
    const out = roundTrip([text(big), binary(blob)]);
    assert.equal(out[0]?.kind === 'text' && out[0].value === big, true);
    assert.equal(out[1]?.kind === 'binary' && out[1].value.equals(blob), true);
  });

  test('many columns: 1664 (PostgreSQL maximum) and 65535 (Int16 maximum)', () => {
    for (const n of [1664, 65_535]) {
      const t: Tuple = Array.from({ length: n }, (_, i): TupleValue => (i % 3 === 0 ? NULL : text(String(i))));
      assert.deepEqual(roundTrip(t), t);
    }
  });

  test('decoded values do not alias the input buffer', () => {
    const input = encodePgOutput({
      tag: 'insert',
      relationId: 1,
      newTuple: [binary(Buffer.from([1, 2, 3])), text('abc')],
    });
    const m = d.decode(input);
    input.fill(0);
    assert.deepEqual(m, { tag: 'insert', relationId: 1, newTuple: [binary(Buffer.from([1, 2, 3])), text('abc')] });
    const msgInput = encodePgOutput({ tag: 'message', transactional: true, lsn: HIGH_LSN, prefix: 'p', content: Buffer.from('hi') });
    const msg = d.decode(msgInput);
    msgInput.fill(0);
    assert.equal(msg.tag === 'message' && msg.content.toString(), 'hi');
  });
});

describe('PgOutputDecoder: malformed input → ProtocolError', () => {
  const samples: Array<{ name: string; bytes: Buffer; streaming: boolean }> = [
    ...V1_MESSAGES.map((m) => ({ name: `v1 ${m.tag} ${describeShape(m)}`, bytes: encodePgOutput(m), streaming: false })),
    ...STREAMED_MESSAGES.map((m) => ({ name: `v2 ${m.tag} ${describeShape(m)}`, bytes: encodePgOutput(m), streaming: true })),
    { name: 'stream_start', bytes: encodePgOutput({ tag: 'stream_start', xid: 1, firstSegment: true }), streaming: false },
  ];

  test('every message truncated at every offset', () => {
    let cases = 0;
    for (const s of samples) {
      for (let cut = 0; cut < s.bytes.length; cut++) {
        const d = s.streaming ? decoderInStream() : new PgOutputDecoder();
        const err = assertProtocolError(() => d.decode(s.bytes.subarray(0, cut)));
        if (cut > 0) assert.match(err.message, /truncated|unterminated string/, `${s.name} cut at ${cut}: ${err.message}`);
        if (cut > 0) assert.match(err.message, /offset \d+/, `${s.name} cut at ${cut}`);
        assert.equal(d.inStreamBlock, s.streaming, 'state unchanged after an error');
        cases++;
      }
    }
    assert.equal(cases, samples.reduce((n, s) => n + s.bytes.length, 0));
  });

  test('trailing bytes after a complete message', () => {
    for (const s of samples) {
      const d = s.streaming ? decoderInStream() : new PgOutputDecoder();
      assertProtocolError(() => d.decode(Buffer.concat([s.bytes, Buffer.from([0])])), /trailing/);
    }
  });

  test('unknown tags, including protocol v3/v4 two-phase tags, name the tag', () => {
    for (const tag of ['Z', 'b', 'P', 'K', 'r', 'p', 'X', '\u0000', '\u00ff']) {
      const err = assertProtocolError(() => new PgOutputDecoder().decode(Buffer.from([tag.charCodeAt(0), 0, 0, 0, 0])));
      assert.match(err.message, /unknown pgoutput message tag/);
      assert.match(err.message, new RegExp(`0x${tag.charCodeAt(0).toString(16).padStart(2, '0')}`));
    }
  });

  test('empty buffer', () => {
    assertProtocolError(() => new PgOutputDecoder().decode(Buffer.alloc(0)), /empty/);
  });

  test('length fields: negative and far beyond the buffer', () => {
    const withLen = (len: number): Buffer =>
      new BufferBuilder().byte('I').uint32(1).byte('N').int16(1).byte('t').int32(len).bytes(Buffer.from('abc')).build();
    assertProtocolError(() => new PgOutputDecoder().decode(withLen(0x7fff_ffff)), /truncated: needs 2147483647 byte/);
    assertProtocolError(() => new PgOutputDecoder().decode(withLen(-1)), /negative length -1 at offset 9/);
    assertProtocolError(() => new PgOutputDecoder().decode(withLen(4)), /truncated/);
    const msg = new BufferBuilder().byte('M').byte(1).uint64(1n).cstring('p').int32(0x7fff_ffff).build();
    assertProtocolError(() => new PgOutputDecoder().decode(msg), /Message.*truncated/);
    const trunc = new BufferBuilder().byte('T').int32(0x7fff_ffff).byte(0).uint32(1).build();
    assertProtocolError(() => new PgOutputDecoder().decode(trunc), /Truncate.*truncated/);
    const negTrunc = new BufferBuilder().byte('T').int32(-5).byte(0).build();
    assertProtocolError(() => new PgOutputDecoder().decode(negTrunc), /negative relation count/);
    const cols = new BufferBuilder().byte('I').uint32(1).byte('N').uint16(0xffff).byte('n').build();
    assertProtocolError(() => new PgOutputDecoder().decode(cols), /truncated/);
  });

  test('bad column kind, tuple marker and replica identity', () => {
    const kind = new BufferBuilder().byte('I').uint32(1).byte('N').int16(1).byte('x').build();
    assertProtocolError(() => new PgOutputDecoder().decode(kind), /unknown tuple column kind 'x' \(0x78\) at offset 8/);
    const insertMarker = new BufferBuilder().byte('I').uint32(1).byte('K').int16(0).build();
    assertProtocolError(() => new PgOutputDecoder().decode(insertMarker), /expected tuple marker 'N'.*got 'K'/);
    const updateMarker = new BufferBuilder().byte('U').uint32(1).byte('X').int16(0).build();
    assertProtocolError(() => new PgOutputDecoder().decode(updateMarker), /Update.*'K', 'O' or 'N'/);
    const updateSecond = writeTuple(new BufferBuilder().byte('U').uint32(1).byte('K'), []).byte('K').int16(0).build();
    assertProtocolError(() => new PgOutputDecoder().decode(updateSecond), /expected tuple marker 'N'/);
    const deleteMarker = new BufferBuilder().byte('D').uint32(1).byte('N').int16(0).build();
    assertProtocolError(() => new PgOutputDecoder().decode(deleteMarker), /Delete.*'K' or 'O'/);
    const ident = new BufferBuilder().byte('R').uint32(1).cstring('s').cstring('t').byte('x').int16(0).build();
    assertProtocolError(() => new PgOutputDecoder().decode(ident), /invalid replica identity 'x'/);
  });

  test('out-of-place stream-control messages; state unchanged after the error', () => {
    const d = decoderInStream();
    for (const m of [
      { tag: 'begin', finalLsn: HIGH_LSN, commitTime: 1n, xid: 1 },
      { tag: 'commit', flags: 0, commitLsn: HIGH_LSN, endLsn: HIGH_LSN, commitTime: 1n },
      { tag: 'stream_start', xid: 1, firstSegment: false },
      { tag: 'stream_commit', xid: 1, flags: 0, commitLsn: HIGH_LSN, endLsn: HIGH_LSN, commitTime: 1n },
      { tag: 'stream_abort', xid: 1, subXid: 1 },
    ] satisfies PgOutputMessage[]) {
      assertProtocolError(() => d.decode(encodePgOutput(m)), /in stream block: not allowed between Stream Start and Stream Stop/);
      assert.equal(d.inStreamBlock, true);
    }
    const idle = new PgOutputDecoder();
    assertProtocolError(() => idle.decode(Buffer.from('E')), /Stream Stop without a preceding Stream Start/);
    assert.equal(idle.inStreamBlock, false);
    d.reset();
    assert.equal(d.inStreamBlock, false);
  });

  test('random corruption of valid messages never escapes as anything but ProtocolError', () => {
    const rand = mulberry32(0xdc5);
    let decoded = 0;
    let rejected = 0;
    for (let round = 0; round < 20_000; round++) {
      const s = samples[Math.floor(rand() * samples.length)]!;
      const bytes = Buffer.from(s.bytes);
      const flips = 1 + Math.floor(rand() * 3);
      for (let i = 0; i < flips; i++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      const d = s.streaming ? decoderInStream() : new PgOutputDecoder();
      try {
        d.decode(bytes);
        decoded++;
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw new Error(`${s.name}: ${bytes.toString('hex')} threw ${String(e)}`);
        rejected++;
      }
    }
    assert.ok(decoded > 0 && rejected > 0);
  });
});

const PG_URL = process.env['DCSYNC_TEST_PG_URL'];

describe('PgOutputDecoder: real pgoutput bytes from PostgreSQL', () => {
  test(
    'decodes what pgoutput produced (SQL interface: protocol 1, binary values, protocol 2 streaming)',
    { skip: PG_URL ? false : 'DCSYNC_TEST_PG_URL is unset: no PostgreSQL to read real bytes from', timeout: 60_000 },
    async (t) => {
      // Loaded only here, so the byte-level tests stay free of the driver.
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      const suffix = `${process.pid}_${Date.now()}`;
      const table = `dcsync_proto_t_${suffix}`;
      const pub = `dcsync_proto_p_${suffix}`;
      const slot = `dcsync_proto_s_${suffix}`;
      let slotCreated = false;
      try {
        const version = Number((await client.query<{ v: string }>('SHOW server_version_num')).rows[0]?.v);
        if (version < 140_000) {
          t.skip(`needs PostgreSQL 14+ (messages, binary, streaming options), server is ${version}`);
          return;
        }
        await client.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text, data bytea, note text)`);
        await client.query(`CREATE PUBLICATION ${pub} FOR TABLE ${table}`);
        await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput', true)`, [slot]);
        slotCreated = true;
        const oid = Number((await client.query<{ oid: string }>(`SELECT '${table}'::regclass::oid AS oid`)).rows[0]?.oid);

        await client.query(`INSERT INTO ${table} VALUES (1, 'plain', '\\x00ff', '😀 𝄞'), (2, NULL, NULL, 'x')`);
        await client.query(`UPDATE ${table} SET name = 'changed' WHERE id = 1`);
        await client.query(`UPDATE ${table} SET id = 3 WHERE id = 2`);
        await client.query(`DELETE FROM ${table} WHERE id = 3`);
        await client.query(`SELECT pg_logical_emit_message(true, 'dcsync.test', 'hello')`);
        await client.query(`TRUNCATE ${table}`);

        const changes = async (fn: 'peek' | 'get', options: string[]): Promise<PgOutputMessage[]> => {
          const params = [slot, 'publication_names', pub, 'messages', 'true', ...options];
          const placeholders = params.slice(1).map((_, i) => `$${i + 2}`).join(', ');
          const res = await client.query<{ data: Buffer }>(
            `SELECT data FROM pg_logical_slot_${fn}_binary_changes($1, NULL, NULL, ${placeholders})`,
            params,
          );
          const d = new PgOutputDecoder();
          const out = res.rows.map((r) => d.decode(r.data));
          assert.equal(d.inStreamBlock, false);
          return out;
        };

        const v1 = await changes('peek', ['proto_version', '1']);
        // pgoutput sends Relation before the first change and again after a relcache invalidation (TRUNCATE
        // may cause one), so check the first and leave the count open.
        const rel = v1.find((m) => m.tag === 'relation');
        const dml = v1.filter((m) => m.tag !== 'begin' && m.tag !== 'commit' && m.tag !== 'relation');
        assert.deepEqual(
          dml.map((m) => m.tag),
          ['insert', 'insert', 'update', 'update', 'delete', 'message', 'truncate'],
        );
        const [ins1, ins2, upd1, upd2, del, msg, trunc] = dml;
        assert.equal(v1[0]?.tag, 'begin');
        assert.equal(v1[1]?.tag, 'relation');
        assert.ok(rel?.tag === 'relation');
        assert.equal(rel.relationId, oid);
        assert.equal(rel.name, table);
        assert.equal(rel.replicaIdentity, 'd');
        assert.deepEqual(
          rel.columns.map((c) => [c.name, c.isKey, c.typeOid]),
          [['id', true, 23], ['name', false, 25], ['data', false, 17], ['note', false, 25]],
        );
        assert.deepEqual(ins1, {
          tag: 'insert',
          relationId: oid,
          newTuple: [text('1'), text('plain'), text('\\x00ff'), text('😀 𝄞')],
        });
        assert.deepEqual(ins2, { tag: 'insert', relationId: oid, newTuple: [text('2'), NULL, NULL, text('x')] });
        assert.ok(upd1?.tag === 'update' && upd1.oldTuple === undefined);
        assert.deepEqual(upd1.newTuple[1], text('changed'));
        assert.ok(upd2?.tag === 'update' && upd2.oldKind === 'K');
        assert.deepEqual(upd2.oldTuple?.[0], text('2'));
        assert.deepEqual(upd2.newTuple[0], text('3'));
        assert.ok(del?.tag === 'delete' && del.oldKind === 'K');
        assert.deepEqual(del.oldTuple[0], text('3'));
        assert.ok(msg?.tag === 'message' && msg.transactional && msg.prefix === 'dcsync.test');
        assert.equal(msg.content.toString(), 'hello');
        assert.ok(trunc?.tag === 'truncate');
        assert.deepEqual(trunc.relationIds, [oid]);
        const commits = v1.filter((m) => m.tag === 'commit');
        const begins = v1.filter((m) => m.tag === 'begin');
        assert.equal(begins.length, commits.length);

        const bin = await changes('peek', ['proto_version', '2', 'binary', 'true']);
        const binIns = bin.find((m) => m.tag === 'insert');
        assert.ok(binIns?.tag === 'insert');
        assert.deepEqual(binIns.newTuple[0], binary(Buffer.from([0, 0, 0, 1])));
        assert.deepEqual(binIns.newTuple[2], binary(Buffer.from([0x00, 0xff])));

        // Consume the above, then make one transaction big enough to be streamed.
        await changes('get', ['proto_version', '1']);
        await client.query(`SET logical_decoding_work_mem = '64kB'`);
        await client.query(
          `INSERT INTO ${table} SELECT g, repeat('x', 200), NULL, '😀' FROM generate_series(1, 3000) g`,
        );
        const v2 = await changes('get', ['proto_version', '2', 'streaming', 'on']);
        const tags = new Set(v2.map((m) => m.tag));
        assert.ok(tags.has('stream_start') && tags.has('stream_stop') && tags.has('stream_commit'), [...tags].join());
        const streamedInserts = v2.filter((m) => m.tag === 'insert');
        assert.equal(streamedInserts.length, 3000);
        const commit = v2.find((m) => m.tag === 'stream_commit');
        assert.ok(commit?.tag === 'stream_commit');
        for (const m of streamedInserts) {
          assert.ok(m.tag === 'insert' && m.xid === commit.xid && m.newTuple.length === 4);
        }
      } finally {
        if (slotCreated) await client.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
        await client.query(`DROP PUBLICATION IF EXISTS ${pub}`).catch(() => undefined);
        await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
        await client.end();
      }
    },
  );
});

function describeShape(m: PgOutputMessage): string {
  switch (m.tag) {
    case 'update':
      return m.oldKind ? `old ${m.oldKind}` : 'no old tuple';
    case 'delete':
      return `old ${m.oldKind}`;
    case 'insert':
      return `${m.newTuple.length} columns`;
    case 'relation':
      return `identity ${m.replicaIdentity}`;
    case 'truncate':
      return `${m.relationIds.length} relations`;
    case 'message':
      return m.transactional ? 'transactional' : 'non-transactional';
    case 'commit':
    case 'stream_commit':
      return `lsn ${m.commitLsn.toString(16)}`;
    case 'stream_abort':
      return `sub ${m.subXid}`;
    default:
      return '';
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
