import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DatabaseStatusView, StatusResponse, TableStatusView } from '../../../control/v1/sync.ts';
import { redrawSequence } from '../../output.ts';
import { CopyRates, copyLines, copyProgress, formatSeconds, progressBar, statusLines, watchHeader } from './status-render.ts';

function database(name: string, status: DatabaseStatusView['status']): DatabaseStatusView {
  const running = status === 'running';
  return {
    database: name,
    status,
    sourceTask: { state: 'running', workerId: 'w1', error: null },
    destinationTask: { state: 'running', workerId: 'w2', error: null },
    lagSeconds: running ? 0.5 : null,
    lagBytes: running ? 120 : null,
    lastMessageTime: null,
    readOnly: true,
  };
}

function table(db: string, name: string, status: TableStatusView['status'], rowsCopied: number, rowsTotal: number): TableStatusView {
  return { database: db, table: `public.${name}`, status, rowsCopied, rowsTotal, lagSeconds: null, lagBytes: null, lastMessageTime: null, error: null };
}

function status(shopCopied: number): StatusResponse {
  return {
    datacenter: 'dc-b',
    status: 'initial-sync',
    sync: { id: 'main', run: 'abc123', role: 'incoming', status: 'initial-sync', createdAt: '', updatedAt: '' },
    source: ['https://a:8629'],
    error: null,
    databases: [database('inventory', 'running'), database('shop', 'copying')],
    tables: [table('inventory', 'item', 'running', 20_000, 20_000), table('shop', 'orders', 'copying', shopCopied, 900_000), table('shop', 'customers', 'copied', 100_000, 100_000)],
    outgoing: [],
    warnings: [],
    sourceCheckedAt: null,
    answeredBy: 'm1',
  };
}

test('progressBar fills its width by the fraction, clamped to [0, 1]', () => {
  assert.equal(progressBar(0, 10), '[░░░░░░░░░░]');
  assert.equal(progressBar(0.5, 10), '[█████░░░░░]');
  assert.equal(progressBar(2, 4), '[████]');
  assert.equal(progressBar(Number.NaN, 4), '[░░░░]');
});

test('formatSeconds', () => {
  assert.deepEqual([9, 75, 3600, 7300].map(formatSeconds), ['9s', '1m15s', '1h00m', '2h01m']);
});

test('CopyRates measures rows per second between refreshes, per database', () => {
  const rates = new CopyRates();
  assert.equal(rates.update(0, status(100_000)).get('shop'), null, 'one sample: no rate yet');
  const r = rates.update(10_000, status(300_000));
  assert.equal(r.get('shop'), 20_000);
  assert.equal(r.get('inventory'), 0);
  // A copy that starts again (fewer rows than before) starts a new measurement.
  assert.equal(rates.update(12_000, status(1_000)).get('shop'), null);
});

test('copy progress sums the tables of each database and tells the time left from the rate', () => {
  const p = copyProgress(status(300_000), new Map([['shop', 20_000]]));
  assert.deepEqual(p, [
    { database: 'inventory', done: true, rowsCopied: 20_000, rowsTotal: 20_000, rowsPerSecond: null, secondsLeft: null },
    { database: 'shop', done: false, rowsCopied: 400_000, rowsTotal: 1_000_000, rowsPerSecond: 20_000, secondsLeft: 30 },
  ]);
  assert.deepEqual(copyLines(p), [
    '  inventory  done (20,000 rows)',
    `  shop       [${'█'.repeat(12)}${'░'.repeat(18)}]  40%  400,000 / 1,000,000 rows  20,000 rows/s  30s left`,
  ]);
});

test('statusLines shows the progress bars only while a database copies, then the tables as before', () => {
  const lines = statusLines(status(300_000), { verbose: false, rates: new Map([['shop', 20_000]]) });
  assert.equal(lines[0], "Sync 'main' (run abc123) into dc-b from https://a:8629: initial-sync");
  assert.deepEqual(lines.slice(1, 5), ['', 'Initial copy:', '  inventory  done (20,000 rows)', lines[4]]);
  assert.match(lines[4]!, /^ {2}shop {7}\[█+░+\] {2}40% {2}400,000 \/ 1,000,000 rows {2}20,000 rows\/s {2}30s left$/);
  assert.ok(lines.includes('DATABASE   STATUS   LAG            LAST MESSAGE  SOURCE      DESTINATION  APP WRITES'), lines.join('\n'));
  assert.ok(lines.includes('shop       copying  -              -             running@w1  running@w2   refused'), lines.join('\n'));
  assert.ok(lines.some((l) => /^shop\s+public\.orders\s+copying\s+300000\/900000/.test(l)));

  const running: StatusResponse = { ...status(900_000), status: 'running', databases: [database('inventory', 'running'), database('shop', 'running')] };
  const after = statusLines({ ...running, tables: running.tables.map((t) => ({ ...t, status: 'running' as const })) }, { verbose: false });
  assert.ok(!after.includes('Initial copy:'));
  assert.ok(after.includes('All 3 table(s) running (-v lists them).'));
});

test('a failure is listed first, with its message', () => {
  const s = status(1);
  const failed: StatusResponse = { ...s, status: 'failed', error: "destination task of database 'shop' failed: disk full", databases: [s.databases[0]!, { ...s.databases[1]!, status: 'failed', destinationTask: { state: 'failed', workerId: 'w2', error: 'disk full' } }] };
  const lines = statusLines(failed, { verbose: false });
  assert.equal(lines[1], "Error: destination task of database 'shop' failed: disk full");
  assert.ok(lines.includes("FAILED: database 'shop': destination task failed: disk full"));
});

test('the watch header names the interval and the time of the answer', () => {
  assert.equal(watchHeader(2_000, new Date('2026-12-07T21:00:05.123Z')), 'Every 2 s: dcsync get status at 2026-12-07 21:00:05 UTC (Ctrl-C stops)');
});

test('redrawSequence goes up over the previous frame, clears it, and cuts lines to the terminal width', () => {
  const first = redrawSequence(0, ['a', 'b'], 80);
  assert.deepEqual(first, { text: '\x1b[Ja\nb\n', rows: 2 });
  const second = redrawSequence(first.rows, ['0123456789'], 6);
  assert.deepEqual(second, { text: '\x1b[2F\x1b[J0123…\n', rows: 1 });
});
