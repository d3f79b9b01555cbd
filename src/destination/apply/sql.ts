/**
 * Statement text for the apply engine. Pure: identifiers are always quoted, types come from the target
 * catalog (`format_type`, already valid SQL), values are never in the text.
 *
 * Set-based statements take one `text[]` parameter per column (column-major) and read them through
 * `(SELECT unnest($1::text[]) AS c0, unnest($2::text[]) AS c1, …) AS u`; each value is converted with the target
 * type's input function by `u.cN::<type>`, which works for enums, domains, arrays, composites and ranges alike.
 */
import { qualifiedName, quoteIdent, type TableId } from '../../model/change.ts';

/** A column as the statements need it: its name and the type its text values are cast to. */
export interface SqlColumn {
  readonly name: string;
  readonly castType: string;
}

/**
 * `(SELECT unnest($1::text[]) AS c0, …, unnest($n::text[]) AS c{n-1}) AS u`: the arrays have one element per row, so
 * the functions step together. In the select list they stream their rows (ProjectSet); `FROM unnest($1, …)` would
 * first copy every row into a tuplestore, which costs backend CPU for nothing.
 */
export function unnestSource(n: number): string {
  if (n < 1) throw new RangeError('unnest needs at least one column');
  const columns: string[] = [];
  for (let i = 0; i < n; i++) columns.push(`unnest($${i + 1}::text[]) AS c${i}`);
  return `(SELECT ${columns.join(', ')}) AS u`;
}

function cast(i: number, c: SqlColumn): string {
  return `u.c${i}::${c.castType}`;
}

function keyMatch(key: readonly SqlColumn[]): string {
  return key.map((k, i) => `t.${quoteIdent(k.name)} = ${cast(i, k)}`).join(' AND ');
}

/**
 * Insert rows, or update the existing row with the same key. OVERRIDING SYSTEM VALUE: identity columns
 * GENERATED ALWAYS take the source's values (a no-op for other tables). Parameters: the key columns' arrays, then the
 * other columns'. Other target columns are not touched (kept on update, defaulted on insert).
 */
export function upsertSql(table: TableId, key: readonly SqlColumn[], others: readonly SqlColumn[]): string {
  if (key.length === 0) throw new RangeError('upsert needs key columns');
  const all = [...key, ...others];
  const names = all.map((c) => quoteIdent(c.name)).join(', ');
  const select = all.map((c, i) => cast(i, c)).join(', ');
  const conflict = key.map((k) => quoteIdent(k.name)).join(', ');
  const action =
    others.length === 0
      ? 'DO NOTHING'
      : `DO UPDATE SET ${others.map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`).join(', ')}`;
  // Integer keys go in key order: PostgreSQL then walks the key's index and the heap (mostly in key order too) in one
  // direction instead of jumping, which saves backend CPU. Other types keep their order: a text key would sort by its collation, which costs more than it saves.
  const order = key.every((k) => INTEGER_TYPES.has(k.castType)) ? ` ORDER BY ${key.map((_, i) => i + 1).join(', ')}` : '';
  return `INSERT INTO ${qualifiedName(table)} (${names}) OVERRIDING SYSTEM VALUE SELECT ${select} FROM ${unnestSource(all.length)}${order} ON CONFLICT (${conflict}) ${action}`;
}

const INTEGER_TYPES: ReadonlySet<string> = new Set(['smallint', 'integer', 'bigint']);

/** Plain insert of rows (tables without a key). Parameters: one array per column. */
export function insertSql(table: TableId, columns: readonly SqlColumn[]): string {
  const names = columns.map((c) => quoteIdent(c.name)).join(', ');
  const select = columns.map((c, i) => cast(i, c)).join(', ');
  return `INSERT INTO ${qualifiedName(table)} (${names}) OVERRIDING SYSTEM VALUE SELECT ${select} FROM ${unnestSource(columns.length)}`;
}

/** Delete the rows with these keys (absent ones are no-ops). Parameters: the key columns' arrays. */
export function deleteKeysSql(table: TableId, key: readonly SqlColumn[]): string {
  return `DELETE FROM ${qualifiedName(table)} AS t USING ${unnestSource(key.length)} WHERE ${keyMatch(key)}`;
}

/**
 * Update the rows with these keys, setting only `set` (which may include key columns: a key change).
 * Parameters: the key columns' arrays (values identifying the rows), then the `set` columns' arrays.
 * The row count tells how many keys were found.
 */
export function updateKeysSql(table: TableId, key: readonly SqlColumn[], set: readonly SqlColumn[]): string {
  if (set.length === 0) throw new RangeError('update needs columns to set');
  const assign = set.map((c, i) => `${quoteIdent(c.name)} = ${cast(key.length + i, c)}`).join(', ');
  return `UPDATE ${qualifiedName(table)} AS t SET ${assign} FROM ${unnestSource(key.length + set.length)} WHERE ${keyMatch(key)}`;
}

/** The first of these keys (as text) that has no row. Parameters: the key columns' arrays. */
export function missingKeysSql(table: TableId, key: readonly SqlColumn[]): string {
  const cols = key.map((_, i) => `u.c${i}`).join(', ');
  return `SELECT ${cols} FROM ${unnestSource(key.length)} WHERE NOT EXISTS (SELECT 1 FROM ${qualifiedName(table)} AS t WHERE ${keyMatch(key)}) LIMIT 1`;
}

/**
 * Predicate matching a row whose columns have exactly these text forms, NULL matching NULL. Compares the
 * output function's text (`format('%L', col)`, NULL as the word NULL) rather than `col::text`: the cast to
 * text differs from the output for boolean (`true` vs `t`), character(n) (trailing spaces cut) and inet.
 * Works for types without an equality operator (json, xml, point).
 */
function textMatch(alias: string, columns: readonly string[], firstParam: number): string {
  if (columns.length === 0) throw new RangeError('matching needs columns');
  return columns
    .map((c, i) => `format('%L', ${alias}.${quoteIdent(c)}) = format('%L', $${firstParam + i}::text)`)
    .join(' AND ');
}

function oneRow(table: TableId, match: readonly string[], firstParam: number, partitioned: boolean): string {
  const q = qualifiedName(table);
  const where = textMatch('s', match, firstParam);
  return partitioned
    ? `(tableoid, ctid) = (SELECT s.tableoid, s.ctid FROM ${q} AS s WHERE ${where} LIMIT 1)`
    : `ctid = (SELECT s.ctid FROM ${q} AS s WHERE ${where} LIMIT 1)`;
}

/** A row (`SELECT 1`) if some row's columns `match` have the given text forms. Parameters: the match values. */
export function existsOneSql(table: TableId, match: readonly string[]): string {
  return `SELECT 1 FROM ${qualifiedName(table)} AS s WHERE ${textMatch('s', match, 1)} LIMIT 1`;
}

/** Delete exactly one row whose columns `match` have the given text forms. Parameters: the match values. */
export function deleteOneSql(table: TableId, match: readonly string[], partitioned: boolean): string {
  return `DELETE FROM ${qualifiedName(table)} WHERE ${oneRow(table, match, 1, partitioned)}`;
}

/**
 * Update exactly one row whose columns `match` have the given text forms.
 * Parameters: the `set` values ($1…), then the match values.
 */
export function updateOneSql(table: TableId, match: readonly string[], set: readonly SqlColumn[], partitioned: boolean): string {
  if (set.length === 0) throw new RangeError('update needs columns to set');
  const assign = set.map((c, i) => `${quoteIdent(c.name)} = $${i + 1}::text::${c.castType}`).join(', ');
  return `UPDATE ${qualifiedName(table)} SET ${assign} WHERE ${oneRow(table, match, set.length + 1, partitioned)}`;
}

/**
 * The text form of a one-dimensional `text[]`: `{"a","b \"q\"",NULL}`. Every element quoted, `"` and `\` escaped,
 * as array_in reads it. Built here rather than by node-postgres's generic array conversion, which escapes each
 * element with two regular expressions: the parameters of a set-based step hold every value of up to 10,000 rows.
 */
export function textArrayLiteral(values: readonly (string | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) out += ',';
    if (v === null || v === undefined) out += 'NULL';
    else if (v.indexOf('"') < 0 && v.indexOf('\\') < 0) out += '"' + v + '"';
    else out += '"' + v.replace(/["\\]/g, '\\$&') + '"';
  }
  return out + '}';
}
