/**
 * Turns an ordered list of row changes into an ordered plan of set-based steps whose effect on the target
 * equals applying the changes one by one, in order. Pure: no I/O, no catalog.
 *
 * The reference semantics (what "one by one" means), per change:
 * - keyed insert: INSERT … ON CONFLICT (key) DO UPDATE SET <its non-key columns> (snapshot/stream overlap);
 * - keyed update with complete values: UPDATE … WHERE key = old key; if no row, insert the new row as above;
 * - keyed update with unchanged TOAST values: UPDATE of the other columns WHERE key = old key; no row is an error;
 * - keyed delete: DELETE … WHERE key; no row is a no-op;
 * - REPLICA IDENTITY FULL: insert is a plain INSERT; update and delete change exactly one row whose columns have
 *   the old values' text forms, and no such row is an error.
 *
 * How it stays exact while batching:
 * - Tables are independent (the caller applies with session_replication_role = replica: no triggers, no FK
 *   checks), so each table gets its own ordered list of steps, and the lists are concatenated.
 * - Keyed changes of a table are collapsed per key (compared by text form) into one final state per key:
 *   `full` (a complete row to upsert), `partial` (columns to set on a row that must exist) or `deleted`.
 *   Later values overwrite earlier ones column by column; an unchanged TOAST column keeps the collapsed value,
 *   or the target's when nothing in the batch wrote it. Since every key ends in exactly one state, the order
 *   between keys does not matter, and a segment is emitted as: existence checks, deletes, partial updates,
 *   upserts. A key deleted and then written again is both deleted and upserted (so target-only columns are
 *   reset to their defaults exactly as a DELETE + INSERT would).
 * - A key that had to exist (its first change in the segment was a partial update) keeps that obligation even
 *   if later changes overwrite or delete it: a check step verifies it before anything else runs.
 * - An update that changes the key ends the segment: the collapsed state so far is emitted, then the update
 *   is applied on its own, and collapsing starts afresh.
 * - Changes of REPLICA IDENTITY FULL tables are not collapsed: runs of inserts become one multi-row INSERT,
 *   updates and deletes are applied one row at a time.
 */
import { type DeleteChange, type InsertChange, type RowChange, type TableId, type UpdateChange, type Value, tableKey } from '../../model/change.ts';
import { InvalidChangeError, RowNotFoundError } from './errors.ts';
import type { BinaryTextArray } from './text-array.ts';

/** One column's values for `unnest`: text forms, or a `text[]` already in binary format (plan-encoded.ts). */
export type ColumnValues = readonly Value[] | BinaryTextArray;

/**
 * Column-major data: `data[i]` holds the values of column i for every row, one `text[]` parameter of the statements
 * (sql.ts). `count` is the number of rows.
 */
export interface ColumnData {
  readonly data: readonly ColumnValues[];
  readonly count: number;
}

/** Keys (the key columns' data) that must have a row at the target; a missing one is a RowNotFoundError. */
export interface CheckExistsStep extends ColumnData {
  readonly kind: 'check-exists';
  readonly table: TableId;
  readonly keyColumns: readonly string[];
}

/** Delete the rows with these keys; absent rows are no-ops. `data` holds the key columns. */
export interface DeleteKeysStep extends ColumnData {
  readonly kind: 'delete-keys';
  readonly table: TableId;
  readonly keyColumns: readonly string[];
}

/**
 * Set `setColumns` (never key columns) on the rows with these keys; every key must have a row.
 * `data` holds the key columns, then the set columns.
 */
export interface UpdateKeysStep extends ColumnData {
  readonly kind: 'update-keys';
  readonly table: TableId;
  readonly keyColumns: readonly string[];
  readonly setColumns: readonly string[];
}

/** Insert, or update on key conflict. `data` holds the key columns, then `otherColumns`. */
export interface UpsertKeysStep extends ColumnData {
  readonly kind: 'upsert-keys';
  readonly table: TableId;
  readonly keyColumns: readonly string[];
  readonly otherColumns: readonly string[];
}

/**
 * One update that changes the key: UPDATE … SET `setColumns` WHERE key = `oldKey`. When no row has the old key:
 * `complete` updates insert the new row (upsert of `newKey` + the non-key set columns), partial ones are an error.
 */
export interface ChangeKeyStep {
  readonly kind: 'change-key';
  readonly table: TableId;
  readonly keyColumns: readonly string[];
  readonly oldKey: readonly Value[];
  readonly newKey: readonly Value[];
  readonly setColumns: readonly string[];
  readonly values: readonly Value[];
  readonly complete: boolean;
}

/** Plain multi-row insert (REPLICA IDENTITY FULL tables: duplicates allowed). */
export interface InsertRowsStep extends ColumnData {
  readonly kind: 'insert-rows';
  readonly table: TableId;
  readonly columns: readonly string[];
}

/** Delete exactly one row whose `matchColumns` have the text forms `matchValues`; none is an error. */
export interface DeleteOneStep {
  readonly kind: 'delete-one';
  readonly table: TableId;
  readonly matchColumns: readonly string[];
  readonly matchValues: readonly Value[];
}

/** Update exactly one matching row (see DeleteOneStep), setting `setColumns` (possibly none: only checks). */
export interface UpdateOneStep {
  readonly kind: 'update-one';
  readonly table: TableId;
  readonly matchColumns: readonly string[];
  readonly matchValues: readonly Value[];
  readonly setColumns: readonly string[];
  readonly values: readonly Value[];
}

/**
 * Rows inserted with COPY (REPLICA IDENTITY FULL tables, planned from change bytes: plan-encoded.ts): `rows` is
 * COPY's text format, one line per row, the values of `columns` in order.
 */
export interface CopyRowsStep {
  readonly kind: 'copy-rows';
  readonly table: TableId;
  readonly columns: readonly string[];
  readonly rows: Buffer;
  readonly count: number;
}

export type ApplyStep =
  | CheckExistsStep
  | CopyRowsStep
  | DeleteKeysStep
  | UpdateKeysStep
  | UpsertKeysStep
  | ChangeKeyStep
  | InsertRowsStep
  | DeleteOneStep
  | UpdateOneStep;

export interface PlanOptions {
  /** Most rows in one set-based step; larger groups are split (safe: their keys are distinct). Default 10,000. */
  readonly maxRowsPerStep?: number;
}

export const DEFAULT_MAX_ROWS_PER_STEP = 10_000;

/** The plan for `changes` (in source order). Throws InvalidChangeError or RowNotFoundError (see the module doc). */
export function planChanges(changes: readonly RowChange[], opts: PlanOptions = {}): ApplyStep[] {
  const maxRows = opts.maxRowsPerStep ?? DEFAULT_MAX_ROWS_PER_STEP;
  if (!Number.isInteger(maxRows) || maxRows < 1) throw new RangeError('maxRowsPerStep must be a positive integer');
  const tables = new Map<string, TablePlan>();
  for (const c of changes) {
    const k = tableKey(c.table);
    let t = tables.get(k);
    if (!t) {
      t = new TablePlan(c.table, maxRows);
      tables.set(k, t);
    }
    t.add(c);
  }
  const steps: ApplyStep[] = [];
  for (const t of tables.values()) {
    t.finish();
    for (const s of t.steps) steps.push(s);
  }
  return steps;
}

/** A row as columns and aligned values. */
interface Row {
  readonly cols: readonly string[];
  readonly vals: readonly Value[];
}

type KeyState =
  | { readonly s: 'full'; readonly key: readonly Value[]; readonly row: Row; readonly deleteFirst: boolean; readonly mustExist: boolean }
  | { readonly s: 'partial'; readonly key: readonly Value[]; readonly row: Row }
  | { readonly s: 'deleted'; readonly key: readonly Value[]; readonly mustExist: boolean };

class TablePlan {
  readonly steps: ApplyStep[] = [];
  #keyColumns: readonly string[] | null = null;
  readonly #states = new Map<string, KeyState>();
  #run: { columns: readonly string[]; data: Value[][]; count: number } | null = null;

  constructor(
    readonly table: TableId,
    readonly maxRows: number,
  ) {}

  add(c: RowChange): void {
    if (c.keyColumns.length === 0) throw new InvalidChangeError(this.table, `${c.op} without key columns`);
    if (c.op !== 'delete' && c.columns.length !== c.values.length) {
      throw new InvalidChangeError(this.table, `${c.op} has ${c.columns.length} columns but ${c.values.length} values`);
    }
    if (c.fullIdentity) {
      this.#flushKeyed();
      this.#addUnkeyed(c);
    } else {
      this.#flushRun();
      if (this.#keyColumns !== null && !sameNames(this.#keyColumns, c.keyColumns)) this.#flushKeyed();
      this.#keyColumns = c.keyColumns;
      this.#addKeyed(c);
    }
  }

  finish(): void {
    this.#flushKeyed();
    this.#flushRun();
  }

  // ---- keyed tables -------------------------------------------------------------------------------------

  #addKeyed(c: RowChange): void {
    switch (c.op) {
      case 'insert':
        return this.#keyedWrite(c, keyFromRow(this.table, c, c.columns, c.values, undefined, noIndexes), { cols: c.columns, vals: c.values }, true);
      case 'update':
        return this.#keyedUpdate(c);
      case 'delete':
        return this.#keyedDelete(c);
    }
  }

  #keyedUpdate(c: UpdateChange): void {
    const unchanged = c.unchanged.length === 0 ? noIndexes : new Set(c.unchanged);
    if (c.oldKey !== undefined && c.oldKey.length !== c.keyColumns.length) {
      throw new InvalidChangeError(this.table, `update has ${c.oldKey.length} old key values for ${c.keyColumns.length} key columns`);
    }
    const newKey = keyFromRow(this.table, c, c.columns, c.values, c.oldKey, unchanged);
    const row = unchanged.size === 0 ? { cols: c.columns, vals: c.values } : withoutIndexes(c.columns, c.values, unchanged);
    const complete = unchanged.size === 0;
    if (c.oldKey !== undefined && !sameValues(c.oldKey, newKey)) {
      this.#flushKeyed();
      this.steps.push({
        kind: 'change-key',
        table: this.table,
        keyColumns: c.keyColumns,
        oldKey: c.oldKey,
        newKey,
        setColumns: row.cols,
        values: row.vals,
        complete,
      });
      return;
    }
    this.#keyedWrite(c, newKey, row, complete);
  }

  /** An insert, or an update that keeps the key: complete (may create the row) or partial (needs the row). */
  #keyedWrite(c: InsertChange | UpdateChange, key: readonly Value[], row: Row, complete: boolean): void {
    const id = keyId(key);
    const prev = this.#states.get(id);
    let next: KeyState;
    if (prev === undefined) {
      next = complete ? { s: 'full', key, row, deleteFirst: false, mustExist: false } : { s: 'partial', key, row };
    } else if (prev.s === 'deleted') {
      if (!complete) {
        throw new RowNotFoundError(this.table, { columns: c.keyColumns, values: key }, 'update with unchanged TOAST values of a row deleted before');
      }
      next = { s: 'full', key, row, deleteFirst: true, mustExist: prev.mustExist };
    } else if (prev.s === 'full') {
      next = { s: 'full', key, row: overlay(prev.row, row), deleteFirst: prev.deleteFirst, mustExist: prev.mustExist };
    } else {
      const merged = overlay(prev.row, row);
      next = complete ? { s: 'full', key, row: merged, deleteFirst: false, mustExist: true } : { s: 'partial', key, row: merged };
    }
    this.#states.set(id, next);
  }

  #keyedDelete(c: DeleteChange): void {
    if (c.oldKey.length !== c.keyColumns.length) {
      throw new InvalidChangeError(this.table, `delete has ${c.oldKey.length} key values for ${c.keyColumns.length} key columns`);
    }
    const id = keyId(c.oldKey);
    const prev = this.#states.get(id);
    const mustExist = prev === undefined ? false : prev.s === 'partial' ? true : prev.mustExist;
    this.#states.set(id, { s: 'deleted', key: c.oldKey, mustExist });
  }

  #flushKeyed(): void {
    const keyColumns = this.#keyColumns;
    if (keyColumns === null || this.#states.size === 0) return;
    const nk = keyColumns.length;
    const checks: (readonly Value[])[] = [];
    const deletes: (readonly Value[])[] = [];
    const updates = new Map<string, { setColumns: readonly string[]; rows: (readonly Value[])[] }>();
    const upserts = new Map<string, { otherColumns: readonly string[]; rows: (readonly Value[])[] }>();
    const keySet = new Set(keyColumns);
    // the non-key part of each distinct column list, computed once (rows usually share their change's list)
    const shapes = new Map<readonly string[], Shape>();
    let last: Shape | undefined;
    let lastCols: readonly string[] = [];
    for (const st of this.#states.values()) {
      if (st.s === 'deleted') {
        if (st.mustExist) checks.push(st.key);
        deletes.push(st.key);
        continue;
      }
      let shape = last !== undefined && sameNames(lastCols, st.row.cols) ? last : shapes.get(st.row.cols);
      if (!shape) {
        shape = nonKeyShape(st.row.cols, keySet);
        shapes.set(st.row.cols, shape);
      }
      last = shape;
      lastCols = st.row.cols;
      if (st.s === 'full') {
        if (st.mustExist) checks.push(st.key);
        if (st.deleteFirst) deletes.push(st.key);
        addGrouped(upserts, shape, st.key, st.row.vals, (otherColumns) => ({ otherColumns, rows: [] }));
      } else if (shape.names.length === 0) {
        checks.push(st.key);
      } else {
        addGrouped(updates, shape, st.key, st.row.vals, (setColumns) => ({ setColumns, rows: [] }));
      }
    }
    this.#states.clear();
    const table = this.table;
    for (const d of this.#chunks(checks, nk)) this.steps.push({ kind: 'check-exists', table, keyColumns, ...d });
    for (const d of this.#chunks(deletes, nk)) this.steps.push({ kind: 'delete-keys', table, keyColumns, ...d });
    for (const g of updates.values()) {
      for (const d of this.#chunks(g.rows, nk + g.setColumns.length)) {
        this.steps.push({ kind: 'update-keys', table, keyColumns, setColumns: g.setColumns, ...d });
      }
    }
    for (const g of upserts.values()) {
      for (const d of this.#chunks(g.rows, nk + g.otherColumns.length)) {
        this.steps.push({ kind: 'upsert-keys', table, keyColumns, otherColumns: g.otherColumns, ...d });
      }
    }
  }

  /** Row-major rows → column-major chunks of at most maxRows rows. */
  *#chunks(rows: readonly (readonly Value[])[], width: number): Generator<ColumnData> {
    for (let start = 0; start < rows.length; start += this.maxRows) {
      const end = Math.min(rows.length, start + this.maxRows);
      const data: Value[][] = [];
      for (let j = 0; j < width; j++) {
        const col = new Array<Value>(end - start);
        for (let r = start; r < end; r++) col[r - start] = (rows[r] as readonly Value[])[j] as Value;
        data.push(col);
      }
      yield { data, count: end - start };
    }
  }

  // ---- REPLICA IDENTITY FULL -----------------------------------------------------------------------------

  #addUnkeyed(c: RowChange): void {
    if (c.op === 'insert') {
      const run = this.#run;
      if (run !== null && run.count < this.maxRows && sameNames(run.columns, c.columns)) {
        for (let j = 0; j < c.columns.length; j++) (run.data[j] as Value[]).push(c.values[j] as Value);
        run.count++;
      } else {
        this.#flushRun();
        this.#run = { columns: c.columns, data: c.values.map((v) => [v]), count: 1 };
      }
      return;
    }
    this.#flushRun();
    if (c.oldKey === undefined) throw new InvalidChangeError(this.table, 'update of a REPLICA IDENTITY FULL table without the old row');
    if (c.oldKey.length !== c.keyColumns.length) {
      throw new InvalidChangeError(this.table, `${c.op} has ${c.oldKey.length} old values for ${c.keyColumns.length} identity columns`);
    }
    if (c.op === 'delete') {
      this.steps.push({ kind: 'delete-one', table: this.table, matchColumns: c.keyColumns, matchValues: c.oldKey });
      return;
    }
    const row = c.unchanged.length === 0 ? { cols: c.columns, vals: c.values } : withoutIndexes(c.columns, c.values, new Set(c.unchanged));
    this.steps.push({
      kind: 'update-one',
      table: this.table,
      matchColumns: c.keyColumns,
      matchValues: c.oldKey,
      setColumns: row.cols,
      values: row.vals,
    });
  }

  #flushRun(): void {
    const run = this.#run;
    if (run === null) return;
    this.#run = null;
    this.steps.push({ kind: 'insert-rows', table: this.table, columns: run.columns, data: run.data, count: run.count });
  }
}

const noIndexes: ReadonlySet<number> = new Set();

/**
 * The key of the row a change leaves behind: each key column's value from the change, or, when the column is
 * absent or an unchanged TOAST value, from the old key (the key did not change there).
 */
function keyFromRow(
  table: TableId,
  c: RowChange,
  columns: readonly string[],
  values: readonly Value[],
  oldKey: readonly Value[] | undefined,
  unchanged: ReadonlySet<number>,
): Value[] {
  return c.keyColumns.map((k, i) => {
    const idx = columns.indexOf(k);
    if (idx >= 0 && !unchanged.has(idx)) return values[idx] as Value;
    if (oldKey !== undefined) return oldKey[i] as Value;
    throw new InvalidChangeError(table, `${c.op} has no value for key column "${k}"`);
  });
}

function withoutIndexes(columns: readonly string[], values: readonly Value[], skip: ReadonlySet<number>): Row {
  const cols: string[] = [];
  const vals: Value[] = [];
  for (let i = 0; i < columns.length; i++) {
    if (skip.has(i)) continue;
    cols.push(columns[i] as string);
    vals.push(values[i] as Value);
  }
  return { cols, vals };
}

/** `top`'s columns written over `base`'s. */
function overlay(base: Row, top: Row): Row {
  if (sameNames(base.cols, top.cols)) return top;
  const m = new Map<string, Value>();
  for (let i = 0; i < base.cols.length; i++) m.set(base.cols[i] as string, base.vals[i] as Value);
  for (let i = 0; i < top.cols.length; i++) m.set(top.cols[i] as string, top.vals[i] as Value);
  return { cols: [...m.keys()], vals: [...m.values()] };
}

/** Which positions of a column list are not key columns, their names, and a signature to group rows by. */
interface Shape {
  readonly names: readonly string[];
  readonly idx: readonly number[];
  readonly sig: string;
}

function nonKeyShape(cols: readonly string[], keys: ReadonlySet<string>): Shape {
  const names: string[] = [];
  const idx: number[] = [];
  cols.forEach((c, i) => {
    if (keys.has(c)) return;
    names.push(c);
    idx.push(i);
  });
  return { names, idx, sig: names.join('\u0000') };
}

/** Adds the row (key values, then the shape's non-key values) to the group of its shape. */
function addGrouped<G extends { rows: (readonly Value[])[] }>(
  groups: Map<string, G>,
  shape: Shape,
  key: readonly Value[],
  vals: readonly Value[],
  create: (names: readonly string[]) => G,
): void {
  let g = groups.get(shape.sig);
  if (!g) {
    g = create(shape.names);
    groups.set(shape.sig, g);
  }
  const row = new Array<Value>(key.length + shape.idx.length);
  for (let i = 0; i < key.length; i++) row[i] = key[i] as Value;
  for (let i = 0; i < shape.idx.length; i++) row[key.length + i] = vals[shape.idx[i] as number] as Value;
  g.rows.push(row);
}

/** Identity of a key by its text form. PostgreSQL text never holds NUL, so the single-value form is unambiguous. */
function keyId(key: readonly Value[]): string {
  const first = key[0];
  if (key.length === 1 && typeof first === 'string') return 's' + first;
  return JSON.stringify(key);
}

export function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameValues(a: readonly Value[], b: readonly Value[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
