import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildStatus, databaseLag, outgoingStatus, parseDestinationProgress } from './status.ts';
import type { TaskRow } from './store.ts';
import type { DestinationProgress, SourceProgress } from '../control/v1/sync.ts';
import type { SyncRecord } from './sync-store.ts';

const T0 = new Date('2026-11-26T10:00:00Z');

function sync(over: Partial<SyncRecord> = {}): SyncRecord {
  return {
    id: 'main',
    role: 'incoming',
    run: 'abc123',
    status: 'initializing',
    config: { source: { endpoints: ['https://a1:8629'], cacert: 'PEM' }, databases: ['shop'] },
    secret: 'SECRET-KEYFILE',
    peer: null,
    peerCheckedAt: null,
    peerError: null,
    error: null,
    createdAt: T0,
    updatedAt: T0,
    ...over,
  };
}

function task(over: Partial<TaskRow>): TaskRow {
  return { id: 't', syncId: 'main', kind: 'destination', database: 'shop', workerId: 'w1', epoch: 1, state: 'running', error: null, progress: {}, updatedAt: T0, ...over };
}

const src = (lsn: string | null, time: string | null, snapshotComplete = true): SourceProgress => ({ kind: 'source', snapshotComplete, lastDataLsn: lsn, lastDataTime: time, flushedLsn: lsn, walLsn: null, slot: null, slotConfirmedLsn: null, retainedWalBytes: null, updatedAt: T0.toISOString() });
const dst = (lsn: string | null, time: string | null, snapshotComplete = true, tables: DestinationProgress['tables'] = []): DestinationProgress => ({
  kind: 'destination',
  snapshotComplete,
  appliedLsn: lsn,
  appliedCommitTime: time,
  lastAppliedAt: time,
  tables,
  tablesOmitted: 0,
  updatedAt: T0.toISOString(),
});

function peer(tasks: { state?: TaskRow['state']; error?: string | null; progress?: SourceProgress }[]): Record<string, unknown> {
  return {
    id: 'main',
    run: 'abc123',
    status: 'initializing',
    destination: { datacenter: 'dc-b', endpoints: [] },
    databases: ['shop'],
    tasks: tasks.map((t) => ({ database: 'shop', kind: 'source', state: t.state ?? 'running', workerId: 'wa', error: t.error ?? null, progress: t.progress ?? {} })),
    warnings: ['master a1: keyfile expires soon'],
    cleanupPending: 0,
    updatedAt: T0.toISOString(),
  };
}

describe('databaseLag', () => {
  it('is unknown during the initial copy and 0 once the last data transaction is applied', () => {
    assert.deepEqual(databaseLag(src('0/100', T0.toISOString()), dst(null, null, false)), { lagBytes: null, lagSeconds: null });
    assert.deepEqual(databaseLag(src('0/100', T0.toISOString()), dst('0/180', T0.toISOString())), { lagBytes: 0, lagSeconds: 0 });
    assert.deepEqual(databaseLag(src(null, null), dst(null, null)), { lagBytes: 0, lagSeconds: 0 });
  });

  it('counts the WAL bytes and the commit-time distance not yet applied', () => {
    const lag = databaseLag(src('0/1000', '2026-11-26T10:00:05Z'), dst('0/400', '2026-11-26T10:00:02Z'));
    assert.deepEqual(lag, { lagBytes: 0xc00, lagSeconds: 3 });
  });

  it('adds the WAL the source has not read yet: current WAL position − what the slot confirmed or the task read', () => {
    const at = (walLsn: string, slotConfirmedLsn: string | null, flushedLsn: string | null): SourceProgress => ({ ...src('0/1000', '2026-11-26T10:00:05Z'), walLsn, slotConfirmedLsn, flushedLsn });
    // Applied: only the unread WAL is left, which has no commit time yet.
    assert.deepEqual(databaseLag(at('0/1800', '0/1000', '0/1000'), dst('0/1000', '2026-11-26T10:00:05Z')), { lagBytes: 0x800, lagSeconds: 0 });
    // In flight and unread: both parts, no overlap.
    assert.deepEqual(databaseLag(at('0/1800', '0/1000', '0/1200'), dst('0/400', '2026-11-26T10:00:02Z')), { lagBytes: 0xc00 + 0x600, lagSeconds: 3 });
    // The slot confirmed everything: caught up.
    assert.deepEqual(databaseLag(at('0/1800', '0/1800', '0/1000'), dst('0/1000', '2026-11-26T10:00:05Z')), { lagBytes: 0, lagSeconds: 0 });
  });
});

describe('buildStatus', () => {
  it('is inactive without an incoming sync and never shows the secret', () => {
    const s = buildStatus({ datacenter: 'dc-b', answeredBy: 'm1', incoming: undefined, outgoing: [], warnings: [] });
    assert.equal(s.status, 'inactive');
    const withSync = buildStatus({ datacenter: 'dc-b', answeredBy: 'm1', incoming: { sync: sync(), tasks: [] }, outgoing: [], warnings: [] });
    assert.doesNotMatch(JSON.stringify(withSync), /SECRET-KEYFILE/);
  });

  it('goes initializing → initial-sync → running with the destination reports', () => {
    const base = { datacenter: 'dc-b', answeredBy: 'm1', outgoing: [], warnings: [] };
    const s0 = buildStatus({ ...base, incoming: { sync: sync({ peer: peer([{}]) }), tasks: [task({ state: 'assigned' })] } });
    assert.equal(s0.status, 'initializing');
    const copying = dst(null, null, false, [{ schema: 'public', name: 't', status: 'copying', rowsCopied: 10, rowsTotal: 100, error: null }]);
    const s1 = buildStatus({ ...base, incoming: { sync: sync({ peer: peer([{}]) }), tasks: [task({ progress: { ...copying } })] } });
    assert.equal(s1.status, 'initial-sync');
    assert.deepEqual(
      s1.tables.map((t) => [t.database, t.table, t.status, t.rowsCopied, t.rowsTotal, t.lagBytes]),
      [['shop', 'public.t', 'copying', 10, 100, null]],
    );
    const running = dst('0/500', T0.toISOString(), true, [{ schema: 'public', name: 't', status: 'running', rowsCopied: 100, rowsTotal: 100, error: null }]);
    const s2 = buildStatus({ ...base, incoming: { sync: sync({ peer: peer([{ progress: src('0/500', T0.toISOString()) }]) }), tasks: [task({ progress: { ...running } })] } });
    assert.equal(s2.status, 'running');
    assert.equal(s2.tables[0]!.lagBytes, 0);
    assert.deepEqual(s2.warnings, ['source: master a1: keyfile expires soon']);
  });

  it('fails when a task of either side fails, with the error naming the database', () => {
    const base = { datacenter: 'dc-b', answeredBy: 'm1', outgoing: [], warnings: [] };
    const s = buildStatus({ ...base, incoming: { sync: sync({ peer: peer([{ state: 'failed', error: 'slot gone' }]) }), tasks: [task({})] } });
    assert.equal(s.status, 'failed');
    assert.match(s.error ?? '', /source task of database 'shop' failed: slot gone/);
    const d = buildStatus({ ...base, incoming: { sync: sync({ peer: peer([{}]) }), tasks: [task({ state: 'failed', error: 'disk full' })] } });
    assert.match(d.error ?? '', /destination task of database 'shop' failed: disk full/);
  });

  it('reports an unreachable source without changing the status', () => {
    const running = dst('0/500', T0.toISOString(), true);
    const s = buildStatus({ datacenter: 'dc-b', answeredBy: 'm1', incoming: { sync: sync({ peer: peer([{}]), peerError: 'connection refused' }), tasks: [task({ progress: { ...running } })] }, outgoing: [], warnings: [] });
    assert.equal(s.status, 'running');
    assert.match(s.error ?? '', /cannot be reached: connection refused/);
  });
});

describe('outgoingStatus and progress parsing', () => {
  it('derives the source side from its tasks', () => {
    const out = sync({ role: 'outgoing', status: 'initializing' });
    assert.equal(outgoingStatus(out, []), 'initializing');
    assert.equal(outgoingStatus(out, [task({ kind: 'source', progress: { ...src(null, null, false) } })]), 'initial-sync');
    assert.equal(outgoingStatus(out, [task({ kind: 'source', progress: { ...src(null, null, true) } })]), 'running');
    assert.equal(outgoingStatus(out, [task({ kind: 'source', state: 'failed' })]), 'failed');
    assert.equal(outgoingStatus({ ...out, status: 'cancelling' }, []), 'cancelling');
  });

  it('drops malformed table entries from a progress document', () => {
    const p = parseDestinationProgress({ kind: 'destination', snapshotComplete: true, tables: [{ schema: 's', name: 'n', status: 'bogus' }, { schema: 's', name: 'ok', status: 'running', rowsCopied: -1 }] });
    assert.deepEqual(p?.tables, [{ schema: 's', name: 'ok', status: 'running', rowsCopied: 0, rowsTotal: 0, error: null }]);
    assert.equal(parseDestinationProgress({ kind: 'source' }), undefined);
  });
});
