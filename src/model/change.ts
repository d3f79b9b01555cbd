/**
 * The domain's unit of replication: one row change of one table, with values in PostgreSQL's text form
 * (as produced by the type's output function with DateStyle=ISO, IntervalStyle=postgres, extra_float_digits=3).
 * Source, transport and destination all speak this; none of them sees pgoutput bytes or Kafka records. The apply
 * may also get a change still encoded (EncodedChange): the same change, its values as UTF-8 byte ranges.
 */
export { comparePositions, type Position } from './position.ts';

export interface TableId {
  readonly schema: string;
  readonly name: string;
}

/** A column value in text form; null is SQL NULL. */
export type Value = string | null;

export type RowChange = InsertChange | UpdateChange | DeleteChange;

interface ChangeBase {
  readonly table: TableId;
  /**
   * The columns that identify a row: the primary key (or replica identity index), or every column
   * when the table has REPLICA IDENTITY FULL and no key.
   */
  readonly keyColumns: readonly string[];
  /** True when the identity is the whole row (REPLICA IDENTITY FULL without a usable key). */
  readonly fullIdentity: boolean;
}

export interface InsertChange extends ChangeBase {
  readonly op: 'insert';
  readonly columns: readonly string[];
  readonly values: readonly Value[];
}

export interface UpdateChange extends ChangeBase {
  readonly op: 'update';
  readonly columns: readonly string[];
  /** New values, aligned with `columns`; entries listed in `unchanged` are placeholders (null) to be ignored. */
  readonly values: readonly Value[];
  /** Indexes into `columns` of unchanged TOASTed values: never written, the target keeps what it has. */
  readonly unchanged: readonly number[];
  /**
   * Values of `keyColumns` before the update. Present when the key changed or the identity is FULL;
   * absent means the key is the one in `values`.
   */
  readonly oldKey?: readonly Value[];
}

export interface DeleteChange extends ChangeBase {
  readonly op: 'delete';
  /** Values of `keyColumns` of the deleted row. */
  readonly oldKey: readonly Value[];
}

/**
 * A row change as read from a change batch, its values still UTF-8 bytes: the apply copies them into its
 * statements' parameters without making strings, and decodes the change where it needs a RowChange.
 */
export interface EncodedChange {
  readonly op: 'insert' | 'update' | 'delete';
  readonly table: TableId;
  readonly keyColumns: readonly string[];
  /** The columns of the change's tuples. */
  readonly columns: readonly string[];
  readonly fullIdentity: boolean;
  /** Position of each key column in `columns`. */
  readonly keyIdx: readonly number[];
  /**
   * The values of the row the change leaves behind (insert, update: the new row; delete: the old row, key columns
   * filled) when they are all there to read: undefined for an update that needs more than its new row (it changed
   * the key, its table's identity is the whole row, or it has unchanged TOAST values).
   */
  cells(): Cells | undefined;
  /** The same change as a RowChange. */
  decode(): RowChange;
}

/** Column values as byte ranges: `ranges[2i]`, `ranges[2i + 1]` are the start and end of column i's UTF-8 text in `bytes`; a start of -1 is NULL. */
export interface Cells {
  readonly bytes: Buffer;
  readonly ranges: Int32Array;
}

export function isEncoded(c: RowChange | EncodedChange): c is EncodedChange {
  return typeof (c as Partial<EncodedChange>).decode === 'function';
}

export function asRowChange(c: RowChange | EncodedChange): RowChange {
  return isEncoded(c) ? c.decode() : c;
}

export function qualifiedName(t: TableId): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}

export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

export function tableKey(t: TableId): string {
  return `${t.schema}.${t.name}`;
}
