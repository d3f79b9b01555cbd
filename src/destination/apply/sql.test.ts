import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import {
  textArrayLiteral,
  deleteKeysSql,
  deleteOneSql,
  existsOneSql,
  insertSql,
  missingKeysSql,
  unnestSource,
  updateKeysSql,
  updateOneSql,
  upsertSql,
} from './sql.ts';

const T = { schema: 'my "schema"', name: 'Tab' };
const id = { name: 'id', castType: 'integer' };
const a = { name: 'a"b', castType: 'public.mood' };
const arr = { name: 'tags', castType: 'text[]' };

describe('sql builders', () => {
  it('reads column-major text arrays through unnest in a select list', () => {
    assert.equal(unnestSource(3), '(SELECT unnest($1::text[]) AS c0, unnest($2::text[]) AS c1, unnest($3::text[]) AS c2) AS u');
    assert.throws(() => unnestSource(0), RangeError);
  });

  it('upserts with quoted identifiers and casts to the target types', () => {
    assert.equal(
      upsertSql(T, [id], [a, arr]),
      'INSERT INTO "my ""schema"""."Tab" ("id", "a""b", "tags") OVERRIDING SYSTEM VALUE SELECT u.c0::integer, u.c1::public.mood, u.c2::text[] ' +
        'FROM (SELECT unnest($1::text[]) AS c0, unnest($2::text[]) AS c1, unnest($3::text[]) AS c2) AS u ORDER BY 1 ' +
        'ON CONFLICT ("id") DO UPDATE SET "a""b" = EXCLUDED."a""b", "tags" = EXCLUDED."tags"',
    );
    assert.match(upsertSql(T, [id, a], []), /AS c1\) AS u ON CONFLICT \("id", "a""b"\) DO NOTHING$/);
  });

  it('sorts upserts by integer keys only', () => {
    const big = { name: 'big', castType: 'bigint' };
    const small = { name: 'small', castType: 'smallint' };
    assert.match(upsertSql(T, [big, small], [a]), /AS c2\) AS u ORDER BY 1, 2 ON CONFLICT \("big", "small"\)/);
    assert.match(upsertSql(T, [{ name: 'k', castType: 'text' }], [a]), /AS c1\) AS u ON CONFLICT/);
    assert.match(upsertSql(T, [{ name: 'k', castType: 'uuid' }, id], []), /AS c1\) AS u ON CONFLICT/);
  });

  it('inserts rows without a conflict target', () => {
    assert.equal(
      insertSql(T, [id, arr]),
      'INSERT INTO "my ""schema"""."Tab" ("id", "tags") OVERRIDING SYSTEM VALUE SELECT u.c0::integer, u.c1::text[] FROM (SELECT unnest($1::text[]) AS c0, unnest($2::text[]) AS c1) AS u',
    );
  });

  it('deletes, updates and finds missing rows by key', () => {
    assert.equal(
      deleteKeysSql(T, [id, a]),
      'DELETE FROM "my ""schema"""."Tab" AS t USING (SELECT unnest($1::text[]) AS c0, unnest($2::text[]) AS c1) AS u WHERE t."id" = u.c0::integer AND t."a""b" = u.c1::public.mood',
    );
    assert.equal(
      updateKeysSql(T, [id], [a, id]),
      'UPDATE "my ""schema"""."Tab" AS t SET "a""b" = u.c1::public.mood, "id" = u.c2::integer ' +
        'FROM (SELECT unnest($1::text[]) AS c0, unnest($2::text[]) AS c1, unnest($3::text[]) AS c2) AS u WHERE t."id" = u.c0::integer',
    );
    assert.equal(
      missingKeysSql(T, [id]),
      'SELECT u.c0 FROM (SELECT unnest($1::text[]) AS c0) AS u WHERE NOT EXISTS (SELECT 1 FROM "my ""schema"""."Tab" AS t WHERE t."id" = u.c0::integer) LIMIT 1',
    );
    assert.throws(() => updateKeysSql(T, [id], []), RangeError);
  });

  it('matches one row of a table without key by the text form of every column, via ctid', () => {
    assert.equal(
      deleteOneSql(T, ['id', 'a"b'], false),
      'DELETE FROM "my ""schema"""."Tab" WHERE ctid = (SELECT s.ctid FROM "my ""schema"""."Tab" AS s WHERE ' +
        `format('%L', s."id") = format('%L', $1::text) AND format('%L', s."a""b") = format('%L', $2::text) LIMIT 1)`,
    );
    assert.match(deleteOneSql(T, ['id'], true), /WHERE \(tableoid, ctid\) = \(SELECT s\.tableoid, s\.ctid FROM/);
    assert.equal(
      updateOneSql(T, ['id', 'tags'], [arr], false),
      'UPDATE "my ""schema"""."Tab" SET "tags" = $1::text::text[] WHERE ctid = (SELECT s.ctid FROM "my ""schema"""."Tab" AS s WHERE ' +
        `format('%L', s."id") = format('%L', $2::text) AND format('%L', s."tags") = format('%L', $3::text) LIMIT 1)`,
    );
    assert.equal(
      existsOneSql(T, ['id']),
      `SELECT 1 FROM "my ""schema"""."Tab" AS s WHERE format('%L', s."id") = format('%L', $1::text) LIMIT 1`,
    );
  });
});

test('text[] literals match what node-postgres would send for the same values', async () => {
  // @ts-expect-error: node-postgres's internal module has no type declarations
  const { prepareValue } = (await import('pg/lib/utils.js')).default as { prepareValue(v: unknown): string };
  const values = ['', 'plain', 'a"b', 'back\\slash', '\\"', '{x,y}', 'NULL', ' spaced ', 'ü😀', 'line\nbreak', null];
  assert.equal(textArrayLiteral(values), prepareValue(values));
  assert.equal(textArrayLiteral([]), '{}');
  assert.equal(textArrayLiteral(['a"b', null]), '{"a\\"b",NULL}');
});
