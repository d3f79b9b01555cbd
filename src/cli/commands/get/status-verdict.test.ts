import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DatabaseStatusView, StatusResponse, TableStatusView } from '../../../control/v1/sync.ts';
import { failures, statusExitCode, STATUS_FAILED_EXIT } from './status-verdict.ts';

const table = (over: Partial<TableStatusView> = {}): TableStatusView => ({
  database: 'app', table: 'public.t', status: 'running', rowsCopied: 1, rowsTotal: 1, lagSeconds: 0, lagBytes: 0, lastMessageTime: null, error: null, ...over,
});
const database = (over: Partial<DatabaseStatusView> = {}): DatabaseStatusView => ({
  database: 'app', status: 'running', sourceTask: { state: 'running', workerId: 'w1', error: null }, destinationTask: { state: 'running', workerId: 'w2', error: null },
  lagSeconds: 0, lagBytes: 0, lastMessageTime: null, readOnly: true, ...over,
});
const status = (over: Partial<StatusResponse> = {}): StatusResponse => ({
  datacenter: 'dc-b', status: 'running', sync: { id: 'main', run: 'abcdef', role: 'incoming', status: 'running', createdAt: '', updatedAt: '' },
  source: [], error: null, databases: [database()], tables: [table()], outgoing: [], warnings: [], sourceCheckedAt: null, answeredBy: 'm1', ...over,
});

test('a healthy sync exits 0', () => {
  assert.equal(statusExitCode(status()), 0);
  assert.equal(statusExitCode(status({ status: 'inactive', sync: null, databases: [], tables: [] })), 0);
});

test('a failed table behind a running sync and database still exits 3, naming it', () => {
  const r = status({ tables: [table(), table({ table: 'public.keyless', status: 'failed', error: 'an UPDATE without a replica identity' })] });
  assert.equal(statusExitCode(r), STATUS_FAILED_EXIT);
  assert.deepEqual(failures(r), ['table app.public.keyless failed: an UPDATE without a replica identity']);
});

test('a failed sync, database, task or outgoing sync exits 3', () => {
  assert.equal(statusExitCode(status({ status: 'failed', error: 'boom' })), 3);
  assert.equal(statusExitCode(status({ databases: [database({ status: 'failed' })] })), 3);
  assert.equal(statusExitCode(status({ databases: [database({ destinationTask: { state: 'failed', workerId: null, error: 'x' } })] })), 3);
  const outgoing = { id: 'o', run: null, status: 'running' as const, destination: { datacenter: 'dc-c', endpoints: [] }, cleanupPending: 0, databases: [{ database: 'app', state: 'failed' as const, workerId: null, error: 'slot lost', snapshotComplete: true, slot: null, retainedWalBytes: null }] };
  assert.deepEqual(failures(status({ outgoing: [outgoing] })), ["outgoing sync 'o', database 'app': source task failed: slot lost"]);
});
