/**
 * The SQL that hashes a table's chunks inside PostgreSQL, the same text on both sides. A row's chunk is the bucket of
 * its key hash (hash-ranges.ts); a chunk's summary is its row count and the sum of its rows' 64-bit hashes, so the
 * order in which PostgreSQL reads the rows does not matter. A row's hash is of its text (`t::text`), which the pinned
 * session settings (postgres/connection.ts) make the same in both datacenters.
 */
import { quoteIdent } from '../model/change.ts';

/** What the SQL needs to know of a table: its name, and its key (none: compared as a multiset of rows). */
export interface HashedTable {
  readonly schema: string;
  readonly name: string;
  readonly keyColumns: readonly string[];
}

/** The key's text: one column's text, or a JSON array of the columns' texts. */
function keyText(t: HashedTable): string {
  if (t.keyColumns.length === 1) return `t.${quoteIdent(t.keyColumns[0]!)}::text`;
  return `json_build_array(${t.keyColumns.map((c) => `t.${quoteIdent(c)}::text`).join(', ')})::text`;
}

/** Rows with their bucket (`b`), their key text (`k`) and their hashable text (`r`). $1: thresholds, $2: wanted buckets. */
function bucketed(t: HashedTable): string {
  const table = `ONLY ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
  if (t.keyColumns.length === 0) return `SELECT width_bucket(hashtext(r)::int8 + 2147483648, $1::int8[]) AS b, r, r AS k FROM (SELECT t::text AS r FROM ${table} AS t) AS y`;
  return `SELECT width_bucket(hashtext(k)::int8 + 2147483648, $1::int8[]) AS b, r, k FROM (SELECT ${keyText(t)} AS k, t::text AS r FROM ${table} AS t) AS y`;
}

/** Per wanted bucket with rows: `b`, `n` (rows), `s` (sum of row hashes, as text). */
export function chunkStatsSql(t: HashedTable): string {
  return `SELECT b, count(*)::int8 AS n, sum(hashtextextended(r, 0))::text AS s FROM (${bucketed(t)}) AS x WHERE b = ANY($2::int4[]) GROUP BY b`;
}

/** The rows of the wanted buckets: `k` and `h` (a keyed table), or `k` (the row's text) and `n` (occurrences). */
export function chunkRowsSql(t: HashedTable): string {
  if (t.keyColumns.length === 0) return `SELECT k, ''::text AS h, count(*)::int8 AS n FROM (${bucketed(t)}) AS x WHERE b = ANY($2::int4[]) GROUP BY k`;
  return `SELECT k, hashtextextended(r, 0)::text AS h, 1::int8 AS n FROM (${bucketed(t)}) AS x WHERE b = ANY($2::int4[])`;
}
