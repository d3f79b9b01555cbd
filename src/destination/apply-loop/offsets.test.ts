import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lsn } from '../../core/lsn.ts';
import { encodeChangeBatch } from '../../transport/record-format/index.ts';
import type { ChangeStreamRecord } from '../../transport/record-format/index.ts';
import { ForgedRecordError } from '../record-guard.ts';
import { CHAIN_START, RecordChain, RecordGapError } from '../../transport/record-sequence.ts';
import { itemsOf, resumeAt } from './offsets.ts';

const chain = (topic: string, partition: number): RecordChain => new RecordChain({ database: 'd', topic, partition }, null, '0');

const origin = { xid: 7, commitTimeUs: 1n };

function message(offset: string, entries: ChangeStreamRecord[]): { offset: string; headers: Record<string, Buffer>; value: Buffer | null } {
  const rec = encodeChangeBatch('d', entries);
  return { offset, headers: Object.fromEntries(Object.entries(rec.headers).map(([k, v]) => [k, Buffer.from(v)])), value: rec.value };
}

function insertInto(schema: string, index: number): ChangeStreamRecord {
  return { ...origin, kind: 'change', pos: { lsn: lsn(100n), index }, endOfTx: false, change: { op: 'insert', table: { schema, name: 't' }, keyColumns: ['id'], fullIdentity: false, columns: ['id'], values: [String(index)] } };
}

test('a record naming a table of a system or dcsync schema is refused before any of its entries (issue 15)', () => {
  const good = message('10', [insertInto('public', 0)]);
  for (const schema of ['pg_catalog', 'dcsync', 'information_schema']) {
    const items = itemsOf(chain('A.dcsync.s.d.changes', 3), [good, message('11', [insertInto('public', 1), insertInto(schema, 2)])]);
    assert.equal(items.next().value?.offset, '10');
    assert.throws(
      () => items.next(),
      (err: unknown) => err instanceof ForgedRecordError && /partition 3 offset 11/.test(err.message) && err.message.includes(schema) && !err.retriable,
    );
  }
});

test('truncate and table-failed barriers are checked too', () => {
  const truncate: ChangeStreamRecord = { ...origin, kind: 'barrier', pos: { lsn: lsn(5n), index: 0 }, endOfTx: true, barrier: { type: 'truncate', tables: [{ schema: 'pg_catalog', name: 'pg_authid' }], cascade: false, restartIdentity: false } };
  assert.throws(() => [...itemsOf(chain('t', 0), [message('1', [truncate])])], ForgedRecordError);
  const ok: ChangeStreamRecord = { ...origin, kind: 'barrier', pos: { lsn: lsn(5n), index: 0 }, endOfTx: true, barrier: { type: 'table-failed', table: { schema: 'app', name: 'x' }, reason: 'r' } };
  assert.equal([...itemsOf(chain('t', 0), [message('1', [ok])])].length, 1);
});

test('a change of a table the source did not announce is refused; a table-failed barrier for one is not', () => {
  const announced = (t: { schema: string; name: string }): boolean => t.schema === 'public';
  const items = itemsOf(chain('t', 1), [message('20', [insertInto('public', 0)]), message('21', [insertInto('other', 1)])], { announced });
  assert.equal(items.next().value?.offset, '20');
  assert.throws(() => items.next(), (err: unknown) => err instanceof ForgedRecordError && /offset 21/.test(err.message) && /other\.t/.test(err.message) && /did not announce/.test(err.message));
  const failed: ChangeStreamRecord = { ...origin, kind: 'barrier', pos: { lsn: lsn(5n), index: 0 }, endOfTx: true, barrier: { type: 'table-failed', table: { schema: 'other', name: 'x' }, reason: 'r' } };
  assert.equal([...itemsOf(chain('t', 0), [message('1', [failed])], { announced })].length, 1);
});

test('a record that does not decode is refused with its origin', () => {
  const broken = { offset: '30', headers: { 'dcsync-kind': Buffer.from('batch'), 'dcsync-enc': Buffer.from('br') }, value: Buffer.from('not brotli') };
  assert.throws(() => [...itemsOf(chain('t', 2), [broken])], (err: unknown) => err instanceof ForgedRecordError && /partition 2 offset 30/.test(err.message) && /cannot be decoded/.test(err.message) && !err.retriable);
});

function numbered(offset: string, seq: number, entries: ChangeStreamRecord[]): ReturnType<typeof message> {
  const m = message(offset, entries);
  return { ...m, headers: { ...m.headers, 'dcsync-seq': Buffer.from(String(seq)) } };
}

test('a gap in the numbers stops before the record after it is decoded; resume points carry the mark', () => {
  const c = new RecordChain({ database: 'd', topic: 't', partition: 0 }, CHAIN_START, null);
  const items = itemsOf(c, [numbered('0', 0, [insertInto('public', 0), insertInto('public', 1)]), numbered('1', 2, [insertInto('public', 2)])]);
  const first = items.next().value!;
  assert.deepEqual(resumeAt(first), { offset: '0', mark: CHAIN_START }); // not the record's last entry: read it again
  const second = items.next().value!;
  assert.deepEqual(resumeAt(second), { offset: '1', mark: 0n });
  assert.throws(() => items.next(), (err: unknown) => err instanceof RecordGapError && err.missing.from === 1n && err.missing.to === 1n && !err.retriable);
});
