import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpError } from '../errors.ts';
import { parseCheckId, parsePeerHashRequest, parseStartCheckRequest } from './check.ts';

test('a start request names databases and schema.table names, or nothing', () => {
  assert.deepEqual(parseStartCheckRequest(undefined), { databases: [], tables: [] });
  assert.deepEqual(parseStartCheckRequest({ databases: ['app'], tables: ['public.t'] }), { databases: ['app'], tables: ['public.t'] });
  assert.throws(() => parseStartCheckRequest({ tables: ['t'] }), (e: unknown) => e instanceof HttpError && e.status === 400 && /schema\.table/.test(e.message));
  assert.throws(() => parseStartCheckRequest({ other: 1 }), HttpError);
});

test('hash requests and check ids are validated', () => {
  const ok = { database: 'app', table: { schema: 'public', name: 't', keyColumns: ['id'] }, ranges: [[0, 10]], what: 'stats' };
  assert.deepEqual(parsePeerHashRequest(ok), ok);
  assert.throws(() => parsePeerHashRequest({ ...ok, ranges: [[0]] }), HttpError);
  assert.throws(() => parsePeerHashRequest({ ...ok, what: 'drop' }), HttpError);
  assert.equal(parseCheckId('c-abc1'), 'c-abc1');
  assert.throws(() => parseCheckId('C;drop'), HttpError);
});
