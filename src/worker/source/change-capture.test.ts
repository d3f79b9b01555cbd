import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplicationError } from '../../core/errors.ts';
import { lsn, type Lsn } from '../../core/lsn.ts';
import type { SourceTable } from '../../source/postgres/catalog.ts';
import type { PgOutputMessage, Tuple } from '../../source/postgres/protocol/index.ts';
import { decodeChangeBatch, type ChangeStreamRecord, type KafkaRecord } from '../../transport/records.ts';
import type { ChangeSink } from '../../transport/sink.ts';
import { ChangeBuilder } from './change-builder.ts';
import { ChangeCapture } from './change-capture.ts';
import { Checkpoint } from './checkpoint.ts';

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
  oid: 1,
  columns: ['id', 'balance', 'note'],
  keyColumns: ['id'],
  fullIdentity: false,
  noIdentity: false,
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

function setup(partitions: number, maxBatchEntries?: number) {
  const sink = new RecordingSink();
  const checkpoint = new Checkpoint(lsn(1n));
  sink.onAcked((n) => checkpoint.acked(n));
  const capture = new ChangeCapture({ database: 'db', topic: 't', partitions, sink, checkpoint, builder: new ChangeBuilder([accounts]), ...(maxBatchEntries ? { maxBatchEntries } : {}) });
  capture.handle(relation, lsn(0n));
  return { sink, checkpoint, capture };
}

test('a transaction is confirmed only after the records holding all of it are acknowledged', () => {
  const { sink, checkpoint, capture } = setup(4);
  capture.handle(begin(100n), lsn(0n));
  for (let i = 0; i < 20; i++) capture.handle({ tag: 'insert', relationId: 77, newTuple: t(String(i), '0', 'n') }, lsn(0n));
  capture.handle(commit(100n), lsn(0n));
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
  capture.handle(begin(200n), lsn(0n));
  for (let i = 0; i < 25; i++) capture.handle({ tag: 'update', relationId: 77, newTuple: t(String(i), '1', 'U') }, lsn(0n));
  assert.equal(sink.sent.length, 2, 'spilled while the transaction is open');
  sink.ack();
  assert.equal(checkpoint.flushed, 1n, 'not confirmed before its commit');
  capture.handle(commit(200n), lsn(0n));
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
  capture.handle(begin(300n), lsn(0n));
  capture.handle({ tag: 'update', relationId: 77, oldKind: 'K', oldTuple: t('1', null, null), newTuple: t('2', '5', 'x') }, lsn(0n));
  capture.handle({ tag: 'update', relationId: 77, oldKind: 'K', oldTuple: t('3', null, null), newTuple: t('4', '5', 'x') }, lsn(0n));
  capture.handle({ tag: 'truncate', cascade: false, restartIdentity: true, relationIds: [77] }, lsn(0n));
  capture.handle(commit(300n), lsn(0n));
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

test('a relation whose columns changed since the snapshot stops with an error naming the table', () => {
  const { capture } = setup(1);
  assert.throws(
    () => capture.handle({ ...(relation as Extract<PgOutputMessage, { tag: 'relation' }>), columns: [...(relation as Extract<PgOutputMessage, { tag: 'relation' }>).columns, { isKey: false, name: 'extra', typeOid: 23, typeMod: -1 }] }, lsn(5n)),
    (err: unknown) => err instanceof ReplicationError && /table public\.accounts .*changed structure/.test(err.message),
  );
  assert.throws(
    () => capture.handle({ tag: 'relation', relationId: 78, schema: 'public', name: 'newer', replicaIdentity: 'd', columns: [] }, lsn(6n)),
    (err: unknown) => err instanceof ReplicationError && /table public\.newer .*did not exist when the sync started/.test(err.message),
  );
});

test('heartbeats reach every partition and confirm their LSN once acknowledged', () => {
  const { sink, checkpoint, capture } = setup(2);
  capture.handle({ tag: 'message', transactional: false, lsn: lsn(500n) as Lsn, prefix: 'dcsync.heartbeat', content: Buffer.alloc(0) }, lsn(0n));
  capture.flush();
  assert.deepEqual(sink.sent.map((r) => [r.partition, r.entries[0]!.kind]), [[0, 'heartbeat'], [1, 'heartbeat']]);
  sink.ack();
  assert.equal(checkpoint.flushed, 500n);
});
