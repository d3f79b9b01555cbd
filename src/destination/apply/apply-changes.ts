/**
 * The destination's apply engine: runs the plan of `planChanges` on the caller's client, inside the caller's
 * open transaction (the caller sets session_replication_role = replica and owns BEGIN/COMMIT).
 *
 * Requirements on the session: the same DateStyle / IntervalStyle / extra_float_digits as the source (and the
 * same TimeZone when REPLICA IDENTITY FULL tables hold timestamptz values): rows of such tables are matched by
 * their text form.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ClientBase } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { DcsyncError } from '../../core/errors.ts';
import { asRowChange, type EncodedChange, qualifiedName, quoteIdent, type RowChange, type Value } from '../../model/change.ts';
import { existingColumn, hasUniqueKey, type TargetCatalog, type TargetTable, writableColumn } from './catalog.ts';
import { type ApplyStep, type ColumnValues, type PlanOptions, planChanges } from './collapse.ts';
import { planEncodedChanges } from './plan-encoded.ts';
import { RowNotFoundError, TargetSchemaError } from './errors.ts';
import {
  deleteKeysSql,
  deleteOneSql,
  existsOneSql,
  insertSql,
  missingKeysSql,
  type SqlColumn,
  textArrayLiteral,
  updateKeysSql,
  updateOneSql,
  upsertSql,
} from './sql.ts';

export interface ApplyStats {
  /** Changes given. */
  changes: number;
  /** SQL statements run (catalog loads not counted). */
  statements: number;
  /** Rows written by INSERT … ON CONFLICT (inserted or updated). */
  rowsUpserted: number;
  /** Rows inserted into tables without a key. */
  rowsInserted: number;
  /** Rows changed by UPDATE statements. */
  rowsUpdated: number;
  /** Rows removed by DELETE statements. */
  rowsDeleted: number;
}

export type ApplyOptions = PlanOptions;

/**
 * Apply `changes` (in source order, all for one target database) so that the target ends exactly as if they
 * had been applied one by one (see collapse.ts for the semantics). Throws RowNotFoundError when a change
 * needs a row the target lacks, TargetSchemaError when the target's tables do not fit, InvalidChangeError on
 * malformed changes; PostgreSQL errors are passed through. After any error the caller's transaction is
 * unusable and must be rolled back.
 */
export async function applyChanges(
  client: ClientBase,
  catalog: TargetCatalog,
  changes: readonly (RowChange | EncodedChange)[],
  opts: ApplyOptions = {},
): Promise<ApplyStats> {
  const stats: ApplyStats = { changes: changes.length, statements: 0, rowsUpserted: 0, rowsInserted: 0, rowsUpdated: 0, rowsDeleted: 0 };
  if (changes.length === 0) return stats;
  const steps = planEncodedChanges(changes, opts) ?? planChanges(changes.map(asRowChange), opts);
  const run = new Runner(client, catalog, stats);
  for (const step of steps) await run.step(step);
  return stats;
}

class Runner {
  constructor(
    readonly client: ClientBase,
    readonly catalog: TargetCatalog,
    readonly stats: ApplyStats,
  ) {}

  /** Arrays of text forms are sent as array literals; binary text[]s (Buffers) and single values as they are. */
  async #query(text: string, values: readonly (ColumnValues | Value)[]): Promise<{ rowCount: number; rows: Value[][] }> {
    this.stats.statements++;
    const params = values.map((v) => (Array.isArray(v) ? textArrayLiteral(v as readonly Value[]) : v));
    const r = await this.client.query<Value[]>({ text, values: params, rowMode: 'array' });
    return { rowCount: r.rowCount ?? 0, rows: r.rows };
  }

  async step(s: ApplyStep): Promise<void> {
    const t = await this.catalog.table(this.client, s.table);
    switch (s.kind) {
      case 'check-exists': {
        const key = keyColumns(t, s.keyColumns);
        await this.#requireKeys(t, key, s.data, 'row changed with unchanged TOAST values');
        return;
      }
      case 'delete-keys': {
        const r = await this.#query(deleteKeysSql(s.table, keyColumns(t, s.keyColumns)), s.data);
        this.stats.rowsDeleted += r.rowCount;
        return;
      }
      case 'update-keys': {
        const key = keyColumns(t, s.keyColumns);
        const r = await this.#query(updateKeysSql(s.table, key, writable(t, s.setColumns)), s.data);
        this.stats.rowsUpdated += r.rowCount;
        if (r.rowCount !== s.count) {
          await this.#requireKeys(t, key, s.data.slice(0, key.length), 'update with unchanged TOAST values');
          throw new DcsyncError(`${qualifiedName(s.table)}: update matched ${r.rowCount} rows for ${s.count} keys`);
        }
        return;
      }
      case 'upsert-keys': {
        const key = arbiter(t, s.keyColumns);
        const r = await this.#query(upsertSql(s.table, key, writable(t, s.otherColumns)), s.data);
        this.stats.rowsUpserted += r.rowCount;
        return;
      }
      case 'change-key': {
        const key = keyColumns(t, s.keyColumns);
        const data = [...s.oldKey, ...s.values].map((v) => [v]);
        const r = await this.#query(updateKeysSql(s.table, key, writable(t, s.setColumns)), data);
        this.stats.rowsUpdated += r.rowCount;
        if (r.rowCount > 0) return;
        if (!s.complete) {
          throw new RowNotFoundError(s.table, { columns: s.keyColumns, values: s.oldKey }, 'update of the key with unchanged TOAST values');
        }
        const keySet = new Set(s.keyColumns);
        const others: string[] = [];
        const otherValues: Value[][] = [];
        s.setColumns.forEach((c, i) => {
          if (keySet.has(c)) return;
          others.push(c);
          otherValues.push([s.values[i] as Value]);
        });
        const u = await this.#query(upsertSql(s.table, arbiter(t, s.keyColumns), writable(t, others)), [...s.newKey.map((v) => [v]), ...otherValues]);
        this.stats.rowsUpserted += u.rowCount;
        return;
      }
      case 'copy-rows': {
        const names = writable(t, s.columns).map((c) => quoteIdent(c.name));
        this.stats.statements++;
        await pipeline(Readable.from([s.rows]), this.client.query(copyFrom(`COPY ${qualifiedName(s.table)} (${names.join(', ')}) FROM STDIN`)));
        this.stats.rowsInserted += s.count;
        return;
      }
      case 'insert-rows': {
        const r = await this.#query(insertSql(s.table, writable(t, s.columns)), s.data);
        this.stats.rowsInserted += r.rowCount;
        return;
      }
      case 'delete-one': {
        matchable(t, s.matchColumns);
        const r = await this.#query(deleteOneSql(s.table, s.matchColumns, t.partitioned), s.matchValues);
        if (r.rowCount === 0) throw new RowNotFoundError(s.table, undefined, 'delete');
        this.stats.rowsDeleted += r.rowCount;
        return;
      }
      case 'update-one': {
        matchable(t, s.matchColumns);
        if (s.setColumns.length === 0) {
          const r = await this.#query(existsOneSql(s.table, s.matchColumns), s.matchValues);
          if (r.rows.length === 0) throw new RowNotFoundError(s.table, undefined, 'update');
          return;
        }
        const r = await this.#query(updateOneSql(s.table, s.matchColumns, writable(t, s.setColumns), t.partitioned), [...s.values, ...s.matchValues]);
        if (r.rowCount === 0) throw new RowNotFoundError(s.table, undefined, 'update');
        this.stats.rowsUpdated += r.rowCount;
        return;
      }
    }
  }

  /** Throws RowNotFoundError naming the first key (column-major `keys`) without a row. */
  async #requireKeys(t: TargetTable, key: readonly SqlColumn[], keys: readonly ColumnValues[], what: string): Promise<void> {
    const r = await this.#query(missingKeysSql(t.id, key), keys);
    const missing = r.rows[0];
    if (missing !== undefined) {
      throw new RowNotFoundError(t.id, { columns: key.map((k) => k.name), values: missing }, what);
    }
  }
}

function keyColumns(t: TargetTable, names: readonly string[]): SqlColumn[] {
  return names.map((n) => existingColumn(t, n));
}

function writable(t: TargetTable, names: readonly string[]): SqlColumn[] {
  return names.map((n) => writableColumn(t, n));
}

function matchable(t: TargetTable, names: readonly string[]): void {
  for (const n of names) existingColumn(t, n);
}

/** The key columns, checked to be an ON CONFLICT arbiter at the target (primary key or unique index). */
function arbiter(t: TargetTable, names: readonly string[]): SqlColumn[] {
  if (!hasUniqueKey(t, names)) {
    throw new TargetSchemaError(t.id, `no primary key or unique index on (${names.join(', ')}) at the target`);
  }
  return keyColumns(t, names);
}


