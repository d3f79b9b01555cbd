import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError, ReplicationError } from '../core/errors.ts';
import { lsn, type Lsn } from '../core/lsn.ts';
import type { RowChange } from '../model/change.ts';
import type { SourceTable } from './catalog.ts';
import type { PgOutputMessage, Tuple } from '../postgres/protocol/index.ts';
import { encodePgOutput } from '../postgres/protocol/test-frames.ts';
import { decodeChangeBatch } from '../transport/record-format/index.ts';
import { partitionOf } from '../transport/partition-key.ts';
import type { ChangeStreamRecord, KafkaRecord } from '../transport/record-format/index.ts';
import type { ChangeSink } from '../transport/sink.ts';
import { ChangeBuilder } from './change-builder.ts';
import { ChangeCapture, CHECK_PREFIX, TABLE_FAILED_PREFIX } from './change-capture.ts';
import { MARKER_INDEX } from '../model/position.ts';
import { Checkpoint, type SlotPosition } from './checkpoint.ts';

/** The slot is not under test here: the checkpoint's own positions are. */
const NO_SLOT: SlotPosition = { received() {}, acknowledge() {} };

/** Records what was enqueued; acknowledges on demand. Pure logic under test, no Kafka involved. */
class RecordingSink implements ChangeSink {
  sent: { partition: number; entries: ChangeStreamRecord[] }[] = [];
  lastEnqueued = 0;
  acked = 0;
  #listeners: ((n: number) => void)[] = [];
  enqueue(_topic: string, partition: number, record: KafkaRecord): number {
    this.sent.push({ partition, entries: decodeChangeBatch(record.headers, record.value) });
    return ++this.lastEnqueued;
  }
  ack(): void {
    this.acked = this.lastEnqueued;
    for (const l of this.#listeners) l(this.acked);
  }
  async waitForRoom(): Promise<void> {}
  onAcked(l: (n: number) => void): void {
    this.#listeners.push(l);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

const accounts: SourceTable = {
  table: { schema: 'public', name: 'accounts' },
  oid: 77,
  columns: ['id', 'balance', 'note'],
  types: [23, 20, 25],
  typmods: [-1, -1, -1],
  identity: 'd',
  identityColumns: ['id'],
  keyColumns: ['id'],
  fullIdentity: false,
  noIdentity: false,
  otherUniqueness: false,
  pages: 1,
  estimatedRows: 1,
};
const relation: PgOutputMessage = {
  tag: 'relation',
  relationId: 77,
  schema: 'public',
  name: 'accounts',
  replicaIdentity: 'd',
  columns: [
    { isKey: true, name: 'id', typeOid: 23, typeMod: -1 },
    { isKey: false, name: 'balance', typeOid: 20, typeMod: -1 },
    { isKey: false, name: 'note', typeOid: 25, typeMod: -1 },
  ],
};
const t = (...v: (string | null | 'U')[]): Tuple => v.map((x) => (x === null ? { kind: 'null' } : x === 'U' ? { kind: 'unchanged' } : { kind: 'text', value: x }));
const begin = (at: bigint): PgOutputMessage => ({ tag: 'begin', finalLsn: lsn(at), commitTime: 0n, xid: Number(at) });
const commit = (at: bigint): PgOutputMessage => ({ tag: 'commit', flags: 0, commitLsn: lsn(at), endLsn: lsn(at + 8n), commitTime: 0n });

/** Hands the capture a message as the walsender sends it: inside a larger buffer (the socket's chunk). */
function feed(capture: ChangeCapture, m: PgOutputMessage, walEnd: Lsn): void {
  const bytes = encodePgOutput(m);
  const buf = Buffer.concat([Buffer.from([0x4e, 0x4b, 0x4f]), bytes, Buffer.from([0x4e, 0x00])]);
  capture.handle({ buf, start: 3, end: 3 + bytes.length, walEnd });
}

function setup(partitions: number, maxBatchEntries?: number) {
  const sink = new RecordingSink();
  const checkpoint = new Checkpoint(NO_SLOT, lsn(1n));
  sink.onAcked((n) => checkpoint.acked(n));
  const capture = new ChangeCapture({ database: 'db', topic: 't', partitions, sink, checkpoint, builder: new ChangeBuilder([accounts]), ...(maxBatchEntries ? { maxBatchEntries } : {}) });
  feed(capture, relation, lsn(0n));
  return { sink, checkpoint, capture };
}

test('a transaction is confirmed only after the records holding all of it are acknowledged', () => {
  const { sink, checkpoint, capture } = setup(4);
  feed(capture, begin(100n), lsn(0n));
  for (let i = 0; i < 20; i++) feed(capture, { tag: 'insert', relationId: 77, newTuple: t(String(i), '0', 'n') }, lsn(0n));
  feed(capture, commit(100n), lsn(0n));
  assert.equal(sink.sent.length, 0, 'nothing leaves before the flush');
  capture.flush();
  assert.ok(sink.sent.length > 1 && sink.sent.length <= 4, 'one record per partition');
  assert.equal(checkpoint.flushed, 1n);
  sink.ack();
  assert.equal(checkpoint.flushed, 108n);
  const all = sink.sent.flatMap((r) => r.entries);
  assert.deepEqual(all.map((e) => e.pos.index).sort((a, b) => a - b), [...Array(20).keys()]);
  for (const r of sink.sent) {
    const lastEntry = r.entries.at(-1)!;
    assert.equal(lastEntry.kind === 'change' && lastEntry.endOfTx, true, 'the last entry per partition ends the transaction');
    assert.deepEqual(r.entries.map((e) => e.pos.index), [...r.entries.map((e) => e.pos.index)].sort((a, b) => a - b), 'per-partition order');
  }
});

test('a transaction larger than a batch spills early and ends with commit entries', () => {
  const { sink, checkpoint, capture } = setup(1, 10);
  feed(capture, begin(200n), lsn(0n));
  for (let i = 0; i < 25; i++) feed(capture, { tag: 'update', relationId: 77, newTuple: t(String(i), '1', 'U') }, lsn(0n));
  assert.equal(sink.sent.length, 2, 'spilled while the transaction is open');
  sink.ack();
  assert.equal(checkpoint.flushed, 1n, 'not confirmed before its commit');
  feed(capture, commit(200n), lsn(0n));
  capture.flush();
  const last = sink.sent.at(-1)!.entries;
  assert.equal(last.at(-1)!.kind, 'change');
  sink.ack();
  assert.equal(checkpoint.flushed, 208n);
  const updates = sink.sent.flatMap((r) => r.entries).filter((e) => e.kind === 'change');
  assert.equal(updates.length, 25);
  const u = updates[0]!;
  assert.ok(u.kind === 'change' && u.change.op === 'update' && u.change.unchanged.length === 1 && u.change.unchanged[0] === 2, 'unchanged TOAST value marked, not sent');
});

test('key-changing updates and truncates become barriers in every partition', () => {
  const { sink, capture } = setup(3);
  feed(capture, begin(300n), lsn(0n));
  feed(capture, { tag: 'update', relationId: 77, oldKind: 'K', oldTuple: t('1', null, null), newTuple: t('2', '5', 'x') }, lsn(0n));
  feed(capture, { tag: 'update', relationId: 77, oldKind: 'K', oldTuple: t('3', null, null), newTuple: t('4', '5', 'x') }, lsn(0n));
  feed(capture, { tag: 'truncate', cascade: false, restartIdentity: true, relationIds: [77] }, lsn(0n));
  feed(capture, commit(300n), lsn(0n));
  capture.flush();
  const byPartition = new Map(sink.sent.map((r) => [r.partition, r.entries]));
  assert.equal(byPartition.size, 3);
  for (const entries of byPartition.values()) {
    assert.deepEqual(
      entries.map((e) => (e.kind === 'barrier' ? e.barrier.type : e.kind)),
      ['changes', 'truncate'],
    );
    const b = entries[0]!;
    assert.ok(b.kind === 'barrier' && b.barrier.type === 'changes' && b.barrier.changes.length === 2, 'consecutive key moves travel as one barrier');
  }
});

test('a table whose shape differs from the announced one stops at that point of its transaction, once; a table unknown then stops the stream', () => {
  const rel = relation as Extract<PgOutputMessage, { tag: 'relation' }>;
  const variants: [string, Extract<PgOutputMessage, { tag: 'relation' }>, RegExp][] = [
    ['a column added', { ...rel, columns: [...rel.columns, { isKey: false, name: 'extra', typeOid: 23, typeMod: -1 }] }, /columns changed/],
    ['dropped and created again', { ...rel, relationId: 99 }, /dropped and created again \(oid 77 is now 99\)/],
    ['a column type', { ...rel, columns: rel.columns.map((c) => (c.name === 'balance' ? { ...c, typeOid: 1700 } : c)) }, /type of column balance changed/],
    ['a column modifier', { ...rel, columns: rel.columns.map((c) => (c.name === 'note' ? { ...c, typeMod: 14 } : c)) }, /type of column note changed/],
    ['the replica identity', { ...rel, replicaIdentity: 'f', columns: rel.columns.map((c) => ({ ...c, isKey: true })) }, /replica identity changed \(now FULL/],
    ['the identity columns', { ...rel, replicaIdentity: 'i', columns: rel.columns.map((c) => ({ ...c, isKey: c.name === 'note' })) }, /replica identity changed/],
  ];
  for (const [what, changed, reason] of variants) {
    const { capture, sink } = setup(2);
    feed(capture, begin(300n), lsn(0n));
    feed(capture, changed, lsn(0n));
    feed(capture, { tag: 'insert', relationId: changed.relationId, newTuple: t('1', '0', 'n') }, lsn(0n));
    feed(capture, changed, lsn(0n));
    feed(capture, commit(300n), lsn(0n));
    capture.flush();
    const entries = sink.sent.flatMap((r) => r.entries);
    const failed = entries.filter((e) => e.kind === 'barrier' && e.barrier.type === 'table-failed');
    assert.equal(failed.length, 2, `${what}: one barrier per partition, once`);
    for (const e of failed) {
      assert.equal(e.pos.lsn, 300n, what);
      assert.ok(e.kind === 'barrier' && e.barrier.type === 'table-failed' && reason.test(e.barrier.reason) && /public\.accounts/.test(e.barrier.reason), `${what}: ${e.kind === 'barrier' && e.barrier.type === 'table-failed' ? e.barrier.reason : e.kind}`);
    }
    assert.equal(entries.filter((e) => e.kind === 'change').length, 0, `${what}: the stopped table's changes are dropped`);
  }
  const { capture } = setup(1);
  assert.throws(
    () => feed(capture, { tag: 'relation', relationId: 78, schema: 'public', name: 'newer', replicaIdentity: 'd', columns: [] }, lsn(6n)),
    (err: unknown) => err instanceof ReplicationError && /table public\.newer .*did not exist when the sync started/.test(err.message),
  );
});

test('heartbeats reach every partition and confirm their LSN once acknowledged', () => {
  const { sink, checkpoint, capture } = setup(2);
  feed(capture, { tag: 'message', transactional: false, lsn: lsn(500n) as Lsn, prefix: 'dcsync.heartbeat', content: Buffer.alloc(0) }, lsn(0n));
  capture.flush();
  assert.deepEqual(sink.sent.map((r) => [r.partition, r.entries[0]!.kind]), [[0, 'heartbeat'], [1, 'heartbeat']]);
  sink.ack();
  assert.equal(checkpoint.flushed, 500n);
});

test('a heartbeat stands at its message end, below a transaction committing there (issue 15)', () => {
  const { sink, capture } = setup(2);
  feed(capture, { tag: 'message', transactional: false, lsn: lsn(500n) as Lsn, prefix: 'dcsync.heartbeat', content: Buffer.alloc(0) }, lsn(0n));
  capture.flush();
  const p0 = sink.sent.filter((r) => r.partition === 0).flatMap((r) => r.entries);
  assert.deepEqual(p0.map((e) => [e.kind, e.pos.lsn, e.pos.index]), [['heartbeat', 500n, MARKER_INDEX]]);
});

test('rows forwarded by their bytes decode to what ChangeBuilder builds, in the partition of their key', () => {
  const table = (oid: number, name: string, columns: string[], keyColumns: string[], fullIdentity: boolean, noIdentity = false, full = fullIdentity): SourceTable => ({
    table: { schema: 'public', name },
    oid,
    columns,
    types: columns.map(() => 25),
    typmods: columns.map(() => -1),
    identity: full ? 'f' : noIdentity ? 'n' : 'd',
    identityColumns: full ? columns : keyColumns,
    keyColumns,
    fullIdentity,
    noIdentity,
    otherUniqueness: false,
    pages: 1,
    estimatedRows: 1,
  });
  const tablesOf = (fullOnKeyed: boolean): SourceTable[] => [
    table(1, 'keyed', ['id', 'v', 'big'], ['id'], false, false, fullOnKeyed),
    table(2, 'two_keys', ['a', 'b', 'big'], ['a', 'b'], false, false, fullOnKeyed),
    table(3, 'whole_row', ['x', 'y'], ['x', 'y'], true),
    table(4, 'log', ['msg', 'at'], [], false, true),
  ];
  // 'keyed' and 'two_keys' also run with REPLICA IDENTITY FULL next to their key: pgoutput then sends 'O' rows.
  const rel = (id: number, t: SourceTable, identity: 'd' | 'f' | 'n'): PgOutputMessage => ({
    tag: 'relation',
    relationId: id,
    schema: 'public',
    name: t.table.name,
    replicaIdentity: identity,
    columns: t.columns.map((c) => ({ isKey: t.identityColumns.includes(c), name: c, typeOid: 25, typeMod: -1 })),
  });
  let seed = 99;
  const rnd = (): number => ((seed = Math.imul(seed ^ (seed >>> 13), 1597334677) + 0x6d2b79f5) >>> 0) / 2 ** 32;
  const pickOne = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const texts = ['1', '2', '3', 'a"b', 'ü', '😀', '', 'x'.repeat(40)];
  const value = (nullable: boolean): string | null => (nullable && rnd() < 0.15 ? null : pickOne(texts));

  for (const partitions of [1, 4]) {
    for (const fullOnKeyed of [false, true]) {
      const tables = tablesOf(fullOnKeyed);
      const sink = new RecordingSink();
      const checkpoint = new Checkpoint(NO_SLOT, lsn(1n));
      const builder = new ChangeBuilder(tables);
      const expectBuilder = new ChangeBuilder(tables);
      const capture = new ChangeCapture({ database: 'db', topic: 't', partitions, sink, checkpoint, builder });
      const rels = [rel(1, tables[0]!, fullOnKeyed ? 'f' : 'd'), rel(2, tables[1]!, fullOnKeyed ? 'f' : 'd'), rel(3, tables[2]!, 'f'), rel(4, tables[3]!, 'n')];
      for (const r of rels) {
        feed(capture, r, lsn(0n));
        expectBuilder.onRelation(r as Extract<PgOutputMessage, { tag: 'relation' }>, lsn(0n));
      }
      const expected: { at: number; change: RowChange }[] = [];
      for (let i = 0; i < 400; i++) {
        const at = 1000 + i * 16;
        const relationId = 1 + Math.floor(rnd() * 4);
        const t = tables[relationId - 1]!;
        const full = relationId === 3 || (fullOnKeyed && relationId <= 2);
        const row = (): Tuple => t.columns.map((c) => (t.keyColumns.includes(c) && relationId <= 2 ? { kind: 'text', value: pickOne(texts) } : { kind: 'text', value: value(true) ?? '' }));
        const nullable = (tuple: Tuple): Tuple => tuple.map((v, k) => (t.keyColumns.includes(t.columns[k]!) && relationId <= 2 ? v : rnd() < 0.15 ? { kind: 'null' } : v));
        let m: PgOutputMessage;
        const op = relationId === 4 ? 'insert' : pickOne(['insert', 'update', 'update', 'delete'] as const);
        if (op === 'insert') m = { tag: 'insert', relationId, newTuple: nullable(row()) };
        else if (op === 'delete') {
          const old = nullable(row());
          m = full
            ? { tag: 'delete', relationId, oldKind: 'O', oldTuple: old }
            : { tag: 'delete', relationId, oldKind: 'K', oldTuple: old.map((v, k) => (t.keyColumns.includes(t.columns[k]!) ? v : { kind: 'null' })) };
        } else {
          const old = nullable(row());
          const newTuple: Tuple = nullable(row()).map((v, k) => (t.columns[k] === 'big' && rnd() < 0.5 ? { kind: 'unchanged' } : v));
          if (full) m = { tag: 'update', relationId, oldKind: 'O', oldTuple: old, newTuple };
          else if (rnd() < 0.5) m = { tag: 'update', relationId, newTuple };
          else m = { tag: 'update', relationId, oldKind: 'K', oldTuple: old.map((v, k) => (t.keyColumns.includes(t.columns[k]!) ? v : { kind: 'null' })), newTuple };
        }
        feed(capture, begin(BigInt(at)), lsn(0n));
        feed(capture, m, lsn(0n));
        feed(capture, commit(BigInt(at)), lsn(0n));
        const change = expectBuilder.build(m as Extract<PgOutputMessage, { tag: 'insert' | 'update' | 'delete' }>);
        assert.ok(change);
        expected.push({ at, change });
      }
      capture.flush();
      if (partitions > 1) {
        const logPartitions = new Set(sink.sent.filter((r) => r.entries.some((e) => e.kind === 'change' && e.change.table.name === 'log')).map((r) => r.partition));
        assert.ok(logPartitions.size > 1, 'the inserts of a table without replica identity spread over the partitions');
      }
      for (const { at, change } of expected) {
        const found = sink.sent.flatMap((r) => r.entries.filter((e) => e.pos.lsn === BigInt(at) && e.kind !== 'commit').map((e) => ({ p: r.partition, e })));
        const what = `${partitions} partition(s), ${JSON.stringify(change)}`;
        if (partitions > 1 && change.op === 'update' && change.oldKey && !change.fullIdentity) {
          assert.equal(found.length, partitions, `a key move reaches every partition: ${what}`);
          for (const { e } of found) assert.ok(e.kind === 'barrier' && e.barrier.type === 'changes' && e.barrier.changes.length === 1, what);
          continue;
        }
        assert.equal(found.length, 1, what);
        const { p, e } = found[0]!;
        assert.equal(e.kind, 'change', what);
        assert.deepEqual(e.kind === 'change' && e.change, change, what);
        assert.equal(p, partitionOf(change, partitions, change.table.name === 'log'), `partition: ${what}`);
      }
    }
  }
});

test('a table-failed message of this sync stops the table at its place in the stream; another sync\'s is ignored', () => {
  const sink = new RecordingSink();
  const checkpoint = new Checkpoint(NO_SLOT, lsn(1n));
  const capture = new ChangeCapture({ syncId: 's1', database: 'db', topic: 't', partitions: 2, sink, checkpoint, builder: new ChangeBuilder([accounts]) });
  feed(capture, relation, lsn(0n));
  const message = (syncId: string): PgOutputMessage => ({
    tag: 'message',
    transactional: true,
    lsn: lsn(400n),
    prefix: TABLE_FAILED_PREFIX,
    content: Buffer.from(JSON.stringify({ syncId, table: accounts.table, reason: 'an UPDATE was made on public.accounts' })),
  });
  for (const [at, syncId] of [[400n, 's2'], [500n, 's1'], [600n, 's1']] as const) {
    feed(capture, begin(at), lsn(0n));
    feed(capture, message(syncId), lsn(0n));
    feed(capture, { tag: 'insert', relationId: 77, newTuple: t(String(at), '0', 'n') }, lsn(0n));
    feed(capture, commit(at), lsn(0n));
  }
  capture.flush();
  const entries = sink.sent.flatMap((r) => r.entries);
  const failed = entries.filter((e) => e.kind === 'barrier' && e.barrier.type === 'table-failed');
  assert.deepEqual(failed.map((e) => e.pos.lsn), [500n, 500n], 'once, in every partition, at the message\'s transaction');
  assert.deepEqual(entries.filter((e) => e.kind === 'change').map((e) => e.pos.lsn), [400n], 'later changes of the table are dropped');
});

test('a table with a unique index beside its key keeps all its changes, key moves included, in one partition in order', () => {
  const sink = new RecordingSink();
  const checkpoint = new Checkpoint(NO_SLOT, lsn(1n));
  const unique: SourceTable = { ...accounts, otherUniqueness: true };
  const capture = new ChangeCapture({ database: 'db', topic: 't', partitions: 4, sink, checkpoint, builder: new ChangeBuilder([unique]) });
  feed(capture, relation, lsn(0n));
  feed(capture, begin(100n), lsn(0n));
  for (let i = 0; i < 20; i++) feed(capture, { tag: 'insert', relationId: 77, newTuple: t(String(i), '0', `n${i}`) }, lsn(0n));
  feed(capture, { tag: 'update', relationId: 77, oldKind: 'K', oldTuple: t('1', null, null), newTuple: t('100', '0', 'n1') }, lsn(0n));
  feed(capture, { tag: 'delete', relationId: 77, oldKind: 'K', oldTuple: t('2', null, null) }, lsn(0n));
  feed(capture, commit(100n), lsn(0n));
  capture.flush();
  assert.equal(new Set(sink.sent.map((r) => r.partition)).size, 1, 'one partition');
  const entries = sink.sent.flatMap((r) => r.entries).filter((e) => e.kind !== 'commit');
  assert.deepEqual(entries.map((e) => e.pos.index), [...Array(22).keys()], 'source order');
  assert.ok(entries.every((e) => e.kind === 'change'), 'a key move is an ordinary change of the table, not a barrier');
});

test('a check marker of this sync becomes a barrier in every partition at its message end; another sync\'s is ignored', () => {
  const sink = new RecordingSink();
  const checkpoint = new Checkpoint(NO_SLOT, lsn(1n));
  sink.onAcked((n) => checkpoint.acked(n));
  const capture = new ChangeCapture({ syncId: 's1', database: 'db', topic: 't', partitions: 3, sink, checkpoint, builder: new ChangeBuilder([accounts]) });
  feed(capture, relation, lsn(0n));
  const marker = (syncId: string, at: bigint): PgOutputMessage => ({
    tag: 'message',
    transactional: false,
    lsn: lsn(at),
    prefix: CHECK_PREFIX,
    content: Buffer.from(JSON.stringify({ syncId, checkId: 'c-1' })),
  });
  feed(capture, marker('s2', 300n), lsn(0n));
  feed(capture, marker('s1', 400n), lsn(0n));
  capture.flush();
  const barriers = sink.sent.flatMap((r) => r.entries.map((e) => ({ p: r.partition, e })));
  assert.deepEqual(
    barriers.map(({ p, e }) => [p, e.kind === 'barrier' ? e.barrier : e.kind, e.pos.lsn, e.pos.index]),
    [0, 1, 2].map((p) => [p, { type: 'check', checkId: 'c-1' }, 400n, MARKER_INDEX]),
  );
  sink.ack();
  assert.equal(checkpoint.flushed, 400n);
});
