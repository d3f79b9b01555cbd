import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StatusResponse } from '../control/v1/sync.ts';
import { MasterMetrics } from './master-metrics.ts';

const status: StatusResponse = {
  datacenter: 'dc-b',
  status: 'running',
  sync: { id: 'main', run: 'abc123', role: 'incoming', status: 'running', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' },
  source: ['https://a1:8629'],
  error: null,
  databases: [
    { database: 'shop', status: 'running', sourceTask: null, destinationTask: { state: 'running', workerId: 'w1', error: null }, lagSeconds: 1.5, lagBytes: 4096, lastMessageTime: '2026-01-01T00:00:10Z', readOnly: true },
    { database: 'crm', status: 'failed', sourceTask: null, destinationTask: { state: 'failed', workerId: 'w1', error: 'x' }, lagSeconds: null, lagBytes: null, lastMessageTime: null, readOnly: false },
  ],
  tables: [
    { database: 'shop', table: 'public.orders', status: 'running', rowsCopied: 10, rowsTotal: 10, lagSeconds: 1.5, lagBytes: 4096, lastMessageTime: null, error: null },
    { database: 'crm', table: 'public.people', status: 'failed', rowsCopied: 3, rowsTotal: 7, lagSeconds: null, lagBytes: null, lastMessageTime: null, error: 'x' },
  ],
  outgoing: [
    {
      id: 'back',
      run: 'def456',
      status: 'running',
      destination: { datacenter: 'dc-a', endpoints: [] },
      databases: [{ database: 'shop', state: 'running', workerId: 'w2', error: null, snapshotComplete: true, slot: 'dcsync_back_def456_16384', retainedWalBytes: 123 }],
      cleanupPending: 0,
    },
  ],
  warnings: [],
  sourceCheckedAt: null,
  answeredBy: 'm1',
};

const line = (text: string, prefix: string): string | undefined => text.split('\n').find((l) => l.startsWith(prefix));

describe('MasterMetrics', () => {
  it('sets the gauges from the status, one value per database and table', async () => {
    const m = new MasterMetrics({ readStatus: async () => status, isLeader: () => true, datacenter: 'dc-b', version: '1.2.3' });
    await m.refresh(new AbortController().signal);
    const text = await m.registry.metrics();
    assert.equal(line(text, 'dcsync_lag_seconds{'), 'dcsync_lag_seconds{sync="main",database="shop"} 1.5');
    assert.equal(line(text, 'dcsync_lag_bytes{'), 'dcsync_lag_bytes{sync="main",database="shop"} 4096', 'an unknown lag (crm) is left out');
    assert.ok(text.includes('dcsync_database_failed{sync="main",database="crm"} 1'));
    assert.ok(text.includes('dcsync_table_failed{sync="main",database="crm",table="public.people"} 1'));
    assert.ok(text.includes('dcsync_table_rows_total{sync="main",database="crm",table="public.people"} 7'));
    assert.ok(text.includes('dcsync_tables{sync="main",database="shop",status="running"} 1'));
    assert.ok(text.includes('dcsync_tasks{kind="destination",state="failed"} 1'));
    assert.ok(text.includes('dcsync_tasks{kind="source",state="running"} 1'));
    assert.ok(text.includes('dcsync_slot_retained_wal_bytes{sync="back",database="shop",slot="dcsync_back_def456_16384"} 123'));
    assert.ok(text.includes('dcsync_sync_status{sync="main",role="incoming",status="running"} 1'));
    assert.ok(text.includes('dcsync_sync_status{sync="main",role="incoming",status="failed"} 0'));
    assert.ok(text.includes('dcsync_master_leader{datacenter="dc-b"} 1'));
    assert.ok(text.includes('dcsync_build_info{component="master",version="1.2.3"} 1'));
  });

  it('drops what the status no longer has, and keeps only the leader gauge when the status cannot be read', async () => {
    let current: StatusResponse = status;
    const m = new MasterMetrics({ readStatus: async () => current, isLeader: () => false, datacenter: 'dc-b', version: 't' });
    await m.refresh(new AbortController().signal);
    current = { ...status, databases: status.databases.slice(0, 1), tables: status.tables.slice(0, 1) };
    await m.refresh(new AbortController().signal);
    assert.ok(!(await m.registry.metrics()).includes('crm'));
    const failing = new MasterMetrics({ readStatus: async () => { throw new Error('PostgreSQL is down'); }, isLeader: () => false, datacenter: 'dc-b', version: 't' });
    await failing.refresh(new AbortController().signal);
    const text = await failing.registry.metrics();
    assert.ok(text.includes('dcsync_status_up 0'));
    assert.ok(text.includes('dcsync_master_leader{datacenter="dc-b"} 0'));
    assert.equal(line(text, 'dcsync_lag_seconds{'), undefined);
  });
});
