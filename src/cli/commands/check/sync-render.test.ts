import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CheckView, TableCheckView } from '../../../control/v1/check.ts';
import { checkExitCode, checkLines, progressLine, rangeText } from './sync-render.ts';

const equalTable: TableCheckView = {
  schema: 'public',
  name: 'tellers',
  keyColumns: ['tid'],
  equal: true,
  rowsAtSource: 10,
  rowsAtDestination: 10,
  missingAtDestination: 0,
  extraAtDestination: 0,
  different: 0,
  ranges: { missing: [], extra: [], different: [] },
  rangesOmitted: 0,
  complete: true,
};

const view = (tables: TableCheckView[], state: CheckView['state'] = tables.every((t) => t.equal) ? 'equal' : 'different'): CheckView => ({
  id: 'c-1',
  syncId: 'default',
  state,
  phase: 'done',
  progress: { tablesDone: tables.length, tablesTotal: tables.length, rowsHashed: 2000 },
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:01.000Z',
  error: state === 'failed' ? 'boom' : null,
  databases: [{ database: 'app', markerLsn: '0/16B3748', tables }],
});

test('an equal check says so in one line per table, and exits 0', () => {
  const v = view([equalTable]);
  assert.deepEqual(checkLines(v), ["sync 'default': every checked table is equal (1 tables, 10 rows; check c-1)", '', 'database app (compared at the marker 0/16B3748):', '  public.tellers: equal (10 rows)']);
  assert.equal(checkExitCode(v), 0);
});

test('a differing table is named with its counts and key ranges, and the check exits 3', () => {
  const t: TableCheckView = {
    ...equalTable,
    name: 'accounts',
    keyColumns: ['aid'],
    equal: false,
    rowsAtSource: 1000,
    rowsAtDestination: 951,
    missingAtDestination: 50,
    extraAtDestination: 1,
    different: 2,
    ranges: { missing: [{ from: ['100'], to: ['149'], rows: 50 }], extra: [{ from: ['5000'], to: ['5000'], rows: 1 }], different: [{ from: ['7'], to: ['7'], rows: 1 }, { from: ['9'], to: ['9'], rows: 1 }] },
  };
  const v = view([t, equalTable]);
  assert.deepEqual(checkLines(v), [
    "sync 'default': 1 of 2 tables differ (check c-1)",
    '',
    'database app (compared at the marker 0/16B3748):',
    '  public.accounts: DIFFERENT: 50 missing at B, 1 extra at B, 2 different (rows at A 1,000, at B 951)',
    '    missing at B: aid 100..149 (50 rows)',
    '    extra at B: aid 5000',
    '    different: aid 7, aid 9',
    '  public.tellers: equal (10 rows)',
  ]);
  assert.equal(checkExitCode(v), 3);
});

test('composite keys and rows of a table without key read as such', () => {
  assert.equal(rangeText(['a', 'b'], { from: ['1', 'x'], to: ['1', 'x'], rows: 1 }), '(a, b) = (1, x)');
  assert.equal(rangeText([], { from: ['(1,foo)'], to: ['(1,foo)'], rows: 1 }), 'row (1,foo)');
});

test('a failed check exits 1; progress names the phase', () => {
  const v = view([], 'failed');
  assert.equal(checkExitCode(v), 1);
  assert.match(checkLines(v)[0]!, /failed: boom/);
  assert.equal(progressLine({ ...v, state: 'running', phase: 'app: comparing public.accounts' }), 'check c-1: app: comparing public.accounts [tables 0/0, 2,000 rows hashed]');
});
