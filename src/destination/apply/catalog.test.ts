import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { existingColumn, hasUniqueKey, type TargetColumn, type TargetTable, writableColumn } from './catalog.ts';
import { TargetSchemaError } from './errors.ts';

const col = (name: string, generated = false): [string, TargetColumn] => [name, { name, attnum: 1, type: 'integer', castType: 'integer', generated }];
const table: TargetTable = {
  id: { schema: 's', name: 't' },
  oid: 1,
  partitioned: false,
  columns: new Map([col('a'), col('b'), col('g', true)]),
  primaryKey: ['a'],
  uniqueKeys: [['a'], ['b', 'a']],
};

describe('target catalog helpers', () => {
  it('finds ON CONFLICT arbiters by column set', () => {
    assert.ok(hasUniqueKey(table, ['a']));
    assert.ok(hasUniqueKey(table, ['a', 'b']));
    assert.ok(!hasUniqueKey(table, ['b']));
    assert.ok(!hasUniqueKey(table, ['a', 'b', 'g']));
  });

  it('refuses missing and generated columns for writing, naming the table', () => {
    assert.equal(writableColumn(table, 'b').name, 'b');
    assert.equal(existingColumn(table, 'g').name, 'g');
    assert.throws(() => writableColumn(table, 'g'), (e: unknown) => e instanceof TargetSchemaError && /"s"\."t".*generated/.test(e.message));
    assert.throws(() => existingColumn(table, 'zz'), (e: unknown) => e instanceof TargetSchemaError && /"zz" does not exist/.test(e.message));
  });
});
