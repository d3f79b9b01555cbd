import type { ResumePoint } from '../../transport/record-sequence.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Lsn } from '../../core/lsn.ts';
import type { EncodedChange, RowChange } from '../../model/change.ts';
import { markerPosition, type Position } from '../../model/position.ts';
import type { Barrier, ChangeStreamRecord } from '../../transport/record-format/index.ts';
import { BarrierGate } from './barrier-gate.ts';
import type { Item } from './offsets.ts';
import { PartitionApplier } from './partition-applier.ts';
import type { PartitionTarget } from './partition-session.ts';

const at = (lsn: number, index: number): Position => ({ lsn: BigInt(lsn) as Lsn, index });
const row = (id: number): RowChange => ({ op: 'insert', table: { schema: 'public', name: 't' }, keyColumns: ['id'], fullIdentity: false, columns: ['id'], values: [String(id)] });
const change = (pos: Position, endOfTx = false): ChangeStreamRecord => ({ kind: 'change', pos, xid: 1, commitTimeUs: 0n, endOfTx, change: row(pos.lsn === 0n ? 0 : Number(pos.lsn) * 100 + pos.index) });
const commit = (pos: Position): ChangeStreamRecord => ({ kind: 'commit', pos, xid: 1, commitTimeUs: 0n });
const heartbeat = (lsn: number): ChangeStreamRecord => ({ kind: 'heartbeat', pos: markerPosition(BigInt(lsn) as Lsn), xid: 0, commitTimeUs: 0n });
const barrier = (pos: Position, b: Barrier = { type: 'truncate', tables: [{ schema: 'public', name: 't' }], cascade: false, restartIdentity: false }): ChangeStreamRecord => ({
  kind: 'barrier',
  pos,
  xid: 1,
  commitTimeUs: 0n,
  endOfTx: true,
  barrier: b,
});

/** Kafka records, each a list of entries, from offset `first` on. */
function items(first: number, ...records: ChangeStreamRecord[][]): Item[] {
  return records.flatMap((entries, r) => entries.map((rec, i) => ({ offset: String(first + r), rec, whole: i === entries.length - 1, chain: { before: null, after: null } })));
}

/** A target that records what it is asked to do. */
class FakeTarget implements PartitionTarget {
  applied: Position | undefined;
  inflight: Position | undefined;
  open = false;
  readonly log: string[] = [];
  readonly rows: number[] = [];

  constructor(applied?: Position) {
    this.applied = applied;
  }
  async begin(): Promise<void> {
    if (!this.open) this.log.push('begin');
    this.open = true;
  }
  async apply(changes: readonly (RowChange | EncodedChange)[]): Promise<void> {
    assert.ok(this.open, 'changes are applied in a transaction');
    for (const c of changes) this.rows.push(Number((c as Extract<RowChange, { op: 'insert' }>).values[0]));
    this.log.push(`apply ${changes.length}`);
  }
  async barrier(b: Barrier, pos: Position): Promise<void> {
    await this.begin();
    this.log.push(`barrier ${b.type} ${pos.lsn}:${pos.index}`);
  }
  hold(pos: Position): void {
    this.inflight = pos;
  }
  async commit(pos: Position, _ts: bigint, changes: number, next: ResumePoint): Promise<void> {
    await this.begin();
    this.log.push(`commit ${pos.lsn}:${pos.index} changes=${changes} next=${next.offset}`);
    this.open = false;
    this.applied = pos;
    this.inflight = undefined;
  }
}

class FakeControl {
  readonly resolved: string[] = [];
  paused = 0;
  resolveOffset(o: string): void {
    this.resolved.push(o);
  }
  pause(): void {
    this.paused++;
  }
}

function applier(
  target: PartitionTarget,
  o: { partition?: number; partitions?: number; transactional?: boolean; gate?: BarrierGate; resumed?: number[][]; idle?: () => Promise<void>; atCheckCut?: (id: string, pos: Position) => Promise<void> } = {},
): PartitionApplier {
  const partitions = o.partitions ?? 1;
  return new PartitionApplier({
    partition: o.partition ?? 0,
    partitions,
    transactional: o.transactional ?? false,
    target,
    gate: o.gate ?? new BarrierGate(partitions, undefined),
    wanted: () => true,
    resume: (p) => o.resumed?.push(p),
    idle: o.idle ?? (async () => {}),
    ...(o.atCheckCut ? { atCheckCut: o.atCheckCut } : {}),
  });
}

test('parallel: a window is committed once, at its last entry, with the offset after its record', async () => {
  const t = new FakeTarget();
  const ctl = new FakeControl();
  await applier(t, { partitions: 2 }).run(items(7, [change(at(10, 0)), change(at(10, 1), true)], [change(at(20, 0), true)]), ctl);
  assert.deepEqual(t.log, ['begin', 'apply 3', 'commit 20:0 changes=3 next=9']);
  assert.deepEqual(ctl.resolved, ['8']);
});

test('parallel: a window at or below the applied position changes nothing, and its offset moves on', async () => {
  const t = new FakeTarget(at(20, 0));
  const ctl = new FakeControl();
  await applier(t, { partitions: 2 }).run(items(7, [change(at(10, 0)), change(at(10, 1), true)], [change(at(20, 0), true)]), ctl);
  assert.deepEqual(t.log, []);
  assert.deepEqual(ctl.resolved, ['8'], 'resolved, or the same window would come again forever');
});

test('a replayed window applies only what is above the applied position', async () => {
  const t = new FakeTarget(at(10, 1));
  await applier(t, { partitions: 2 }).run(items(0, [change(at(10, 0)), change(at(10, 1), true), change(at(11, 0), true)]), new FakeControl());
  assert.deepEqual(t.rows, [1100]);
});

test('a change committing exactly at an applied heartbeat\'s LSN is applied (issue 15)', async () => {
  const t = new FakeTarget();
  const a = applier(t, { partitions: 2 });
  await a.run(items(0, [heartbeat(50)]), new FakeControl());
  assert.deepEqual(t.log, ['begin', 'commit 50:-1 changes=0 next=1']);
  await a.run(items(1, [change(at(50, 0), true)]), new FakeControl());
  assert.deepEqual(t.rows, [5000]);
});

test('a window ending inside a record resolves only the records before it (the record is read again)', async () => {
  const t = new FakeTarget();
  const ctl = new FakeControl();
  // 60 000 changes of one record: the applier commits at 50 000, before the record's end.
  const big = Array.from({ length: 60_000 }, (_, i) => change(at(10, i), i === 59_999));
  const window = items(5, big).slice(0, 50_000);
  await applier(t, { partitions: 2 }).run(window, ctl);
  assert.equal(t.log.at(-1), 'commit 10:49999 changes=50000 next=5');
  assert.deepEqual([...new Set(ctl.resolved)], ['4'], 'never the record itself');
});

test('barrier: the first partition to reach it commits what precedes it and parks; the last applies it and resumes the others', async () => {
  const gate = new BarrierGate(2, undefined);
  const resumed: number[][] = [];
  const t0 = new FakeTarget();
  const t1 = new FakeTarget();
  const c0 = new FakeControl();
  const c1 = new FakeControl();
  await applier(t0, { partition: 0, partitions: 2, gate, resumed }).run(items(0, [change(at(10, 0), true)], [barrier(at(11, 0))], [change(at(12, 0), true)]), c0);
  assert.deepEqual(t0.log, ['begin', 'apply 1', 'commit 10:0 changes=1 next=1']);
  assert.equal(c0.paused, 1);
  assert.deepEqual(c0.resolved, ['0'], 'nothing past the barrier is consumed');
  await applier(t1, { partition: 1, partitions: 2, gate, resumed }).run(items(0, [barrier(at(11, 0))]), c1);
  assert.deepEqual(t1.log, ['begin', 'barrier truncate 11:0', 'commit 11:0 changes=0 next=1']);
  assert.deepEqual(resumed, [[0]]);
  assert.deepEqual(c1.resolved, ['0']);
  // partition 0, resumed, reads the barrier again: applied already, it goes past it
  await applier(t0, { partition: 0, partitions: 2, gate, resumed }).run(items(1, [barrier(at(11, 0))], [change(at(12, 0), true)]), c0);
  assert.deepEqual(t0.log.slice(3), ['begin', 'apply 1', 'commit 12:0 changes=1 next=3']);
});

test('two table failures at distinct positions are both applied; a replay of either is not', async () => {
  const gate = new BarrierGate(1, undefined);
  const t = new FakeTarget();
  const failed = (name: string): Barrier => ({ type: 'table-failed', table: { schema: 'public', name }, reason: 'r' });
  const a = applier(t, { gate });
  await a.run(items(0, [barrier(markerPosition(100n as Lsn), failed('k1'))], [barrier(markerPosition(140n as Lsn), failed('k2'))]), new FakeControl());
  assert.deepEqual(t.log.filter((l) => l.startsWith('barrier')), ['barrier table-failed 100:-1', 'barrier table-failed 140:-1']);
  await a.run(items(0, [barrier(markerPosition(100n as Lsn), failed('k1'))], [barrier(markerPosition(140n as Lsn), failed('k2'))]), new FakeControl());
  assert.equal(t.log.filter((l) => l.startsWith('barrier')).length, 2);
});

test('transactional: a source transaction over two windows is committed once, at its end', async () => {
  const t = new FakeTarget();
  const a = applier(t, { transactional: true });
  const c = new FakeControl();
  await a.run(items(0, [change(at(10, 0)), change(at(10, 1))]), c);
  assert.deepEqual(t.log, ['begin', 'apply 2']);
  assert.ok(t.open);
  assert.deepEqual(t.inflight, at(10, 1));
  assert.deepEqual(c.resolved, ['0'], 'the window is consumed, or the next fetch brings it again (issue 15)');
  await a.run(items(1, [change(at(10, 2)), commit(at(10, 3))]), c);
  assert.deepEqual(t.log, ['begin', 'apply 2', 'apply 1', 'commit 10:3 changes=1 next=2']);
  assert.deepEqual(t.rows, [1000, 1001, 1002]);
});

test('transactional: a barrier is a step of the open transaction', async () => {
  const t = new FakeTarget();
  await applier(t, { transactional: true }).run(items(0, [change(at(10, 0)), barrier({ lsn: 10n as Lsn, index: 1 })]), new FakeControl());
  assert.deepEqual(t.log, ['begin', 'apply 1', 'barrier truncate 10:1', 'commit 10:1 changes=1 next=1']);
});

test('entries repeated later in the same window (a restarted source, MirrorMaker 2) are applied once', async () => {
  for (const transactional of [false, true]) {
    const t = new FakeTarget(at(5, 0));
    const once = [change(at(10, 0)), change(at(10, 1), true), change(at(11, 0), true)];
    await applier(t, { partitions: transactional ? 1 : 2, transactional }).run(items(0, once, [change(at(10, 1), true)], once, [change(at(12, 0), true)]), new FakeControl());
    assert.deepEqual(t.rows, [1000, 1001, 1100, 1200], `each change once (transactional: ${transactional})`);
  }
});

test('a check barrier: the cut is taken after the last partition committed it, before the parked ones resume', async () => {
  const gate = new BarrierGate(2, undefined);
  const resumed: number[][] = [];
  const t0 = new FakeTarget();
  const t1 = new FakeTarget();
  const check: Barrier = { type: 'check', checkId: 'c1' };
  const cuts: string[] = [];
  const atCheckCut = async (id: string, pos: Position): Promise<void> => {
    cuts.push(`${id} ${pos.lsn}:${pos.index} t0=${t0.applied?.lsn} t1=${t1.applied?.lsn} resumed=${resumed.length}`);
  };
  await applier(t0, { partition: 0, partitions: 2, gate, resumed, atCheckCut }).run(items(0, [change(at(10, 0), true)], [barrier(markerPosition(11n as Lsn), check)]), new FakeControl());
  assert.deepEqual(cuts, [], 'no cut while a partition has not reached the marker');
  await applier(t1, { partition: 1, partitions: 2, gate, resumed, atCheckCut }).run(items(0, [change(at(9, 0), true)], [barrier(markerPosition(11n as Lsn), check)]), new FakeControl());
  assert.deepEqual(cuts, ['c1 11:-1 t0=10 t1=11 resumed=0']);
  assert.deepEqual(resumed, [[0]]);
  // a replay of the marker takes no second cut
  await applier(t1, { partition: 1, partitions: 2, gate, resumed, atCheckCut }).run(items(1, [barrier(markerPosition(11n as Lsn), check)]), new FakeControl());
  assert.equal(cuts.length, 1);
});

test('one partition: a check barrier commits what precedes it before the cut', async () => {
  const t = new FakeTarget();
  const cuts: string[] = [];
  const atCheckCut = async (id: string): Promise<void> => {
    cuts.push(`${id} open=${t.open} ${t.log.at(-1)}`);
  };
  await applier(t, { transactional: true, atCheckCut }).run(items(0, [change(at(10, 0)), commit(at(10, 1))], [barrier(markerPosition(12n as Lsn), { type: 'check', checkId: 'c2' }), change(at(13, 0))]), new FakeControl());
  assert.deepEqual(cuts, ['c2 open=false commit 12:-1 changes=1 next=1']);
  assert.ok(t.log.includes('barrier check 12:-1'));
  assert.deepEqual(t.rows, [1000, 1300]);
});
