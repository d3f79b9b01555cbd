import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LocalState } from './state.ts';
import { configureSyncArgs, isCaughtUp, parseSyncStatus, syncStatusArgs, SyncStatusFormatError, type SyncStatus } from './sync.ts';

const table = (over: Partial<SyncStatus['tables'][number]> = {}) => ({
  database: 'shop',
  table: 'public.pgbench_accounts',
  status: 'running',
  rowsCopied: 500_000,
  rowsTotal: 500_000,
  lagSeconds: 0.2,
  lagBytes: 0,
  ...over,
});

describe('get status --json', () => {
  it('parses the status document and keeps the fields it does not read', () => {
    const s = parseSyncStatus(JSON.stringify({ status: 'initial-sync', source: { endpoint: 'x' }, tables: [table({ lagBytes: null, rowsCopied: 10 })], outgoing: false }));
    assert.equal(s.status, 'initial-sync');
    assert.equal(s.tables[0]!.rowsCopied, 10);
    assert.equal(s.tables[0]!.lagBytes, null);
    assert.deepEqual(s['source'], { endpoint: 'x' });
  });

  it('refuses what is not the status document', () => {
    assert.throws(() => parseSyncStatus('usage: …'), SyncStatusFormatError);
    assert.throws(() => parseSyncStatus('[]'), /no object/);
    assert.throws(() => parseSyncStatus('{"status":"ok"}'), /status must be one of/);
    assert.throws(() => parseSyncStatus('{"status":"running","tables":{}}'), /tables must be an array/);
  });

  it('is caught up when running and every table has no lag', () => {
    const st = (status: SyncStatus['status'], tables: ReturnType<typeof table>[]): SyncStatus => ({ status, tables });
    assert.equal(isCaughtUp(st('running', [table(), table({ lagBytes: null, lagSeconds: 0.5 })])), true);
    assert.equal(isCaughtUp(st('running', [table(), table({ lagBytes: 1024, lagSeconds: 3 })])), false);
    assert.equal(isCaughtUp(st('running', [table({ lagBytes: null, lagSeconds: null })])), false);
    assert.equal(isCaughtUp(st('initial-sync', [table()])), false);
    assert.equal(isCaughtUp(st('running', [])), false, 'no tables yet is not caught up');
  });
});

describe('configure sync A→B', () => {
  const state = {
    superuser: 'postgres',
    status: 'up',
    dir: '/d',
    files: { tlsCaCert: '/d/tls-ca.crt', clientKeyfile: '/d/secrets/client.keyfile' },
    datacenters: {
      'dc-a': { masters: ['https://127.0.0.1:1', 'https://127.0.0.1:2'] },
      'dc-b': { masters: ['https://127.0.0.1:3', 'https://127.0.0.1:4'] },
    },
  } as unknown as LocalState;

  it('asks B (the incoming side) to sync from A, with the client keyfile and no password on the command line', () => {
    const args = configureSyncArgs(state);
    assert.deepEqual(args, [
      'configure', 'sync',
      '--master.endpoint', 'https://127.0.0.1:3,https://127.0.0.1:4',
      '--master.cacert', '/d/tls-ca.crt',
      '--source.endpoint', 'https://127.0.0.1:1,https://127.0.0.1:2',
      '--source.cacert', '/d/tls-ca.crt',
      '--master.keyfile', '/d/secrets/client.keyfile',
      '--auth.user', 'postgres',
    ]);
    assert.ok(!args.some((a) => /password/.test(a)));
    assert.deepEqual(syncStatusArgs(state).slice(0, 4), ['get', 'status', '--master.endpoint', 'https://127.0.0.1:3,https://127.0.0.1:4']);
  });
});
