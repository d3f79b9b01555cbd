/**
 * The domain's unit of replication: one row change of one table, with values in PostgreSQL's text form
 * (as produced by the type's output function with DateStyle=ISO, IntervalStyle=postgres, extra_float_digits=3).
 * Source, transport and destination all speak this; none of them sees pgoutput bytes or Kafka records.
 */
import type { Lsn } from '../core/lsn.ts';

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

/** Where a change stands in the source's commit order: the commit LSN of its transaction and its index in it. */
export interface Position {
  readonly lsn: Lsn;
  readonly index: number;
}

export function comparePositions(a: Position, b: Position): number {
  if (a.lsn !== b.lsn) return a.lsn < b.lsn ? -1 : 1;
  return a.index - b.index;
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
