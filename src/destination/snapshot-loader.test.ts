import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lsn } from '../core/lsn.ts';
import { tableKey, type TableId } from '../model/change.ts';
import { unfinishedTables } from './snapshot-loader.ts';
import type { TargetTableState } from './target-state.ts';

const state = (table: TableId, status: TargetTableState['status']): [string, TargetTableState] => [
  tableKey(table),
  { table, snapshotLsn: lsn(1n), columns: ['id'], status, rowsCopied: 0, error: null },
];
const a = { schema: 'public', name: 'a' };
const b = { schema: 'public', name: 'b' };
const c = { schema: 's', name: 'c' };

test('a copy is complete only when every begun table ended and every announced table was begun', () => {
  assert.deepEqual(unfinishedTables(new Map([state(a, 'copied'), state(b, 'copied')]), [a, b]), []);
  assert.deepEqual(unfinishedTables(new Map([state(a, 'copied'), state(b, 'copying')]), [a, b]), [tableKey(b)]);
  assert.deepEqual(unfinishedTables(new Map([state(a, 'copied')]), [a, c]), [tableKey(c)]);
  // A failed table is reported by its own status, not as a partial copy.
  assert.deepEqual(unfinishedTables(new Map([state(a, 'failed'), state(b, 'copied')]), [a, b]), []);
});
