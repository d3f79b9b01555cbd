import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RowChange, Value } from '../model/change.ts';
import { changeKey, fnv1a, KeyHash } from './partition-key.ts';

function hashFromBytes(schema: string, name: string, key: readonly Value[]): number {
  const h = new KeyHash();
  h.begin(KeyHash.prefixOf({ schema, name }));
  for (const v of key) {
    if (v === null) h.null();
    else {
      // Embedded in a larger buffer, as a value inside a pgoutput message.
      const bytes = Buffer.concat([Buffer.from('xx'), Buffer.from(v, 'utf8'), Buffer.from('yy')]);
      h.value(bytes, 2, bytes.length - 2);
    }
  }
  return h.end();
}

const samples: string[] = ['', '0', '42', '-7.5', 'a"b', 'back\\slash', 'tab\tnew\nline\r', '\u0000\u0001\u001f\u007f', 'ünïcödé', '😀 emoji', 'mixed "é" \\ \n', 'x'.repeat(300)];

test('the partition hash of a key read from bytes equals FNV-1a of the decoded change', () => {
  const rnd = (() => {
    let s = 12345;
    return () => ((s = Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0) / 2 ** 32;
  })();
  for (let i = 0; i < 2000; i++) {
    const n = 1 + Math.floor(rnd() * 3);
    const key: Value[] = Array.from({ length: n }, () => (rnd() < 0.1 ? null : samples[Math.floor(rnd() * samples.length)]! + (rnd() < 0.5 ? String(i) : '')));
    const schema = rnd() < 0.5 ? 'public' : 'schéma "q"';
    const name = `t${i % 7}`;
    const keyColumns = key.map((_, k) => `k${k}`);
    const change: RowChange = { op: 'delete', table: { schema, name }, keyColumns, fullIdentity: false, oldKey: key };
    assert.equal(hashFromBytes(schema, name, key), fnv1a(changeKey(change)), JSON.stringify(key));
  }
});

test('whole-row identity tables hash by name only; inserts by their key columns', () => {
  const table = { schema: 'public', name: 'log' };
  const full: RowChange = { op: 'insert', table, keyColumns: ['a', 'b'], fullIdentity: true, columns: ['a', 'b'], values: ['1', '2'] };
  assert.equal(KeyHash.ofTable(table), fnv1a(changeKey(full)));
  const keyed: RowChange = { op: 'insert', table, keyColumns: ['b'], fullIdentity: false, columns: ['a', 'b'], values: ['1', '2'] };
  assert.equal(changeKey(keyed), 'public.log\u0000["2"]');
  assert.equal(hashFromBytes('public', 'log', ['2']), fnv1a(changeKey(keyed)));
});
