/**
 * What the apply engine needs to know about target tables: columns with their types, the primary key and
 * the unique keys usable as ON CONFLICT arbiters. Loaded once per table from the target's catalog and cached;
 * call `invalidate()` after DDL changed a table (or all of them).
 */
import type { ClientBase } from 'pg';
import { qualifiedName, tableKey, type TableId } from '../../model/change.ts';
import { TargetSchemaError } from './errors.ts';

export interface TargetColumn {
  readonly name: string;
  readonly attnum: number;
  /** `format_type(atttypid, atttypmod)`, e.g. `character varying(10)`, `public.mood[]`. */
  readonly type: string;
  /**
   * `format_type(atttypid, -1)`: the type without its modifier (`bpchar`, `"bit"`, `character varying`; with NULL
   * instead of -1 these would read as `character` = char(1) and `bit` = bit(1)). Text values are cast to this, so
   * that the modifier is applied as an assignment: a too long `varchar(4)` value fails instead of being cut.
   */
  readonly castType: string;
  /** A generated column (`attgenerated <> ''`): never written. */
  readonly generated: boolean;
}

export interface TargetTable {
  readonly id: TableId;
  readonly oid: number;
  /** A partitioned table: ctid alone does not identify a row, tableoid is needed too. */
  readonly partitioned: boolean;
  /** In attnum order; dropped columns left out. */
  readonly columns: ReadonlyMap<string, TargetColumn>;
  readonly primaryKey: readonly string[] | null;
  /** Column lists of unique, immediate, valid, non-partial, non-expression indexes (the primary key among them). */
  readonly uniqueKeys: readonly (readonly string[])[];
}

export class TargetCatalog {
  readonly #tables = new Map<string, Promise<TargetTable>>();

  /** The table's description, from the cache or loaded through `client` (inside its transaction, if any). */
  table(client: ClientBase, id: TableId): Promise<TargetTable> {
    const key = tableKey(id);
    const cached = this.#tables.get(key);
    if (cached) return cached;
    const loading = loadTable(client, id);
    this.#tables.set(key, loading);
    loading.catch(() => {
      if (this.#tables.get(key) === loading) this.#tables.delete(key);
    });
    return loading;
  }

  /** Forget one table (after DDL on it), or every table. */
  invalidate(id?: TableId): void {
    if (id === undefined) this.#tables.clear();
    else this.#tables.delete(tableKey(id));
  }
}

/** The column, or a TargetSchemaError when the target lacks it or generates it. */
export function writableColumn(table: TargetTable, name: string): TargetColumn {
  const col = table.columns.get(name);
  if (!col) throw new TargetSchemaError(table.id, `column "${name}" does not exist at the target`);
  if (col.generated) throw new TargetSchemaError(table.id, `column "${name}" is generated at the target and cannot be written`);
  return col;
}

/** The column, generated or not (for matching), or a TargetSchemaError. */
export function existingColumn(table: TargetTable, name: string): TargetColumn {
  const col = table.columns.get(name);
  if (!col) throw new TargetSchemaError(table.id, `column "${name}" does not exist at the target`);
  return col;
}

/** Whether some unique key of the target consists of exactly these columns (in any order). */
export function hasUniqueKey(table: TargetTable, columns: readonly string[]): boolean {
  const want = new Set(columns);
  return table.uniqueKeys.some((k) => k.length === want.size && k.every((c) => want.has(c)));
}

interface RelRow { oid: number; relkind: string }
interface ColRow { attname: string; attnum: number; type: string; cast_type: string; attgenerated: string }
interface IndexRow { indisprimary: boolean; cols: string[] }

async function loadTable(client: ClientBase, id: TableId): Promise<TargetTable> {
  const rel = await client.query<RelRow>(
    `SELECT c.oid, c.relkind::text AS relkind
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [id.schema, id.name],
  );
  const r = rel.rows[0];
  if (!r) throw new TargetSchemaError(id, `table ${qualifiedName(id)} does not exist at the target`);
  const cols = await client.query<ColRow>(
    `SELECT a.attname::text AS attname, a.attnum::int AS attnum,
            pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
            pg_catalog.format_type(a.atttypid, -1) AS cast_type,
            a.attgenerated::text AS attgenerated
       FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [r.oid],
  );
  const idx = await client.query<IndexRow>(
    `SELECT i.indisprimary,
            ARRAY(SELECT a.attname::text
                    FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                   WHERE k.ord <= i.indnkeyatts
                   ORDER BY k.ord) AS cols
       FROM pg_catalog.pg_index i
      WHERE i.indrelid = $1 AND i.indisunique AND i.indimmediate AND i.indisvalid
        AND i.indpred IS NULL AND i.indexprs IS NULL
      ORDER BY i.indisprimary DESC, i.indexrelid`,
    [r.oid],
  );
  const columns = new Map<string, TargetColumn>();
  for (const c of cols.rows) {
    columns.set(c.attname, { name: c.attname, attnum: c.attnum, type: c.type, castType: c.cast_type, generated: c.attgenerated !== '' });
  }
  const pk = idx.rows.find((i) => i.indisprimary);
  return {
    id: { schema: id.schema, name: id.name },
    oid: r.oid,
    partitioned: r.relkind === 'p',
    columns,
    primaryKey: pk ? pk.cols : null,
    uniqueKeys: idx.rows.map((i) => i.cols),
  };
}
