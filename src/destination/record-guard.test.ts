import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkReplicatedTable, ForgedRecordError } from './record-guard.ts';

const origin = { topic: 'dcsync.s.app.snapshot', partition: 0, offset: '42' };

test('tables of system schemas and of dcsync are refused, naming the record', () => {
  for (const schema of ['pg_catalog', 'pg_toast', 'information_schema', 'dcsync']) {
    assert.throws(
      () => checkReplicatedTable({ schema, name: 'x' }, origin),
      (err: unknown) => err instanceof ForgedRecordError && !err.retriable && /topic 'dcsync\.s\.app\.snapshot' partition 0 offset 42/.test(err.message),
    );
  }
  assert.throws(() => checkReplicatedTable({ schema: '', name: 'x' }, origin), ForgedRecordError);
  checkReplicatedTable({ schema: 'public', name: 'pg_like_name' }, origin);
  checkReplicatedTable({ schema: 'dcsync_app', name: 't' }, origin);
});
