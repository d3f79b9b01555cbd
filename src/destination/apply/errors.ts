/**
 * Errors of the apply engine. None is retriable: the same changes against the same target fail again.
 * Errors raised by PostgreSQL itself (connection loss, serialization failure, constraint violation) are
 * not wrapped here: they reach the caller as `pg` errors with their SQLSTATE, for the adapter's classifier.
 */
import { DcsyncError } from '../../core/errors.ts';
import { qualifiedName, type TableId, type Value } from '../../model/change.ts';

/** The target's structure does not fit the changes: a table, a column or a usable key is missing. */
export class TargetSchemaError extends DcsyncError {
  constructor(readonly table: TableId, message: string) {
    super(`${qualifiedName(table)}: ${message}`);
  }
}

/**
 * A change needs a row that the target does not have: a partial update (unchanged TOAST values cannot be
 * invented), an update or delete of a REPLICA IDENTITY FULL table that matches no row. The target has
 * diverged from the source; applying anything else would hide it.
 */
export class RowNotFoundError extends DcsyncError {
  constructor(
    readonly table: TableId,
    /** The key columns and values that matched nothing; absent for tables identified by the full row. */
    readonly key: { readonly columns: readonly string[]; readonly values: readonly Value[] } | undefined,
    what: string,
  ) {
    super(`${qualifiedName(table)}: ${what}: no row ${key ? `with key ${describeKey(key.columns, key.values)}` : 'matches the old row'}`);
  }
}

/** A change is malformed (e.g. a key column missing from an insert); a bug upstream, never retried. */
export class InvalidChangeError extends DcsyncError {
  constructor(readonly table: TableId, message: string) {
    super(`${qualifiedName(table)}: ${message}`);
  }
}

/** `(a, b)=(1, 'x')`, values cut at 100 characters so that a huge key does not flood the log. */
export function describeKey(columns: readonly string[], values: readonly Value[]): string {
  const show = (v: Value | undefined): string =>
    v === null || v === undefined ? 'NULL' : v.length > 100 ? `'${v.slice(0, 100)}…'` : `'${v}'`;
  return `(${columns.join(', ')})=(${columns.map((_, i) => show(values[i])).join(', ')})`;
}
