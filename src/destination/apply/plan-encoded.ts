/**
 * planChanges for changes still in their bytes (EncodedChange), when every change of the batch is one of:
 * an insert, an update that keeps its key and has all its values (no old row, no unchanged TOAST), a delete of a
 * keyed table, an insert of a REPLICA IDENTITY FULL table. Then the plan is the one planChanges makes from the
 * decoded changes — same steps, same order, same rows — with each column's values copied byte for byte into a
 * binary `text[]` (text-array.ts) instead of decoded into strings. Otherwise `undefined`: the caller decodes and
 * plans with planChanges, which handles everything.
 *
 * For these changes planChanges' semantics reduce to: per table (in order of first appearance), per key (compared by
 * bytes, which is comparing by text) the last row written wins; a key deleted and then written again is both deleted
 * and upserted; the table's deletes come before its upserts, each in the order its key first appeared. Inserts of
 * FULL tables run in order, in steps of at most maxRows rows; they are sent with COPY ('copy-rows'), where
 * planChanges makes an 'insert-rows' step of the same rows.
 */
import { latin1 } from '../../core/utf8.ts';
import { type Cells, type EncodedChange, isEncoded, type RowChange, type TableId, tableKey } from '../../model/change.ts';
import { type ApplyStep, DEFAULT_MAX_ROWS_PER_STEP, type PlanOptions, sameNames } from './collapse.ts';
import { CopyTextBuilder } from './copy-text.ts';
import { TextArrayBuilder, type BinaryTextArray } from './text-array.ts';

export function planEncodedChanges(changes: readonly (RowChange | EncodedChange)[], opts: PlanOptions = {}): ApplyStep[] | undefined {
  const maxRows = opts.maxRowsPerStep ?? DEFAULT_MAX_ROWS_PER_STEP;
  if (!Number.isInteger(maxRows) || maxRows < 1) throw new RangeError('maxRowsPerStep must be a positive integer');
  const byName = new Map<string, EncodedTablePlan>();
  // The changes of one batch body share their TableId object: most lookups skip building the name.
  const byId = new Map<TableId, EncodedTablePlan>();
  for (const c of changes) {
    if (!isEncoded(c)) return undefined;
    let t = byId.get(c.table);
    if (!t) {
      const k = tableKey(c.table);
      t = byName.get(k);
      if (!t) byName.set(k, (t = new EncodedTablePlan(c, maxRows)));
      byId.set(c.table, t);
    }
    if (!t.add(c)) return undefined;
  }
  const steps: ApplyStep[] = [];
  for (const t of byName.values()) t.emit(steps);
  return steps;
}

/** A key's final state: the row it ends with (null: deleted), whether it was deleted before, where its key bytes are. */
interface KeyState {
  row: Cells | null;
  deleteFirst: boolean;
  /** The cells to read the key from (the row's, or the delete's old row) and the key columns' positions in them. */
  key: Cells;
  keyIdx: readonly number[];
}

class EncodedTablePlan {
  readonly table: TableId;
  readonly keyColumns: readonly string[];
  readonly fullIdentity: boolean;
  /** The columns of the rows written (inserted or updated); all must be the same. */
  #columns: readonly string[] | null = null;
  readonly #states = new Map<string | null, KeyState>();
  readonly #inserts: Cells[] = [];

  constructor(
    first: EncodedChange,
    readonly maxRows: number,
  ) {
    this.table = first.table;
    this.keyColumns = first.keyColumns;
    this.fullIdentity = first.fullIdentity;
  }

  /** False when the change cannot be planned from its bytes. */
  add(c: EncodedChange): boolean {
    if (c.fullIdentity !== this.fullIdentity || !sameNames(c.keyColumns, this.keyColumns)) return false;
    if (this.fullIdentity) {
      if (c.op !== 'insert' || !this.#sameColumns(c.columns)) return false;
      const cells = c.cells();
      if (!cells) return false;
      this.#inserts.push(cells);
      return true;
    }
    const cells = c.cells();
    if (!cells) return false;
    const id = keyId(cells, c.keyIdx);
    const prev = this.#states.get(id);
    if (c.op === 'delete') {
      if (prev) {
        prev.row = null;
        prev.key = cells;
        prev.keyIdx = c.keyIdx;
      } else this.#states.set(id, { row: null, deleteFirst: false, key: cells, keyIdx: c.keyIdx });
      return true;
    }
    if (!this.#sameColumns(c.columns)) return false;
    if (prev) {
      if (prev.row === null) prev.deleteFirst = true;
      prev.row = cells;
      prev.key = cells;
      prev.keyIdx = c.keyIdx;
    } else this.#states.set(id, { row: cells, deleteFirst: false, key: cells, keyIdx: c.keyIdx });
    return true;
  }

  emit(steps: ApplyStep[]): void {
    const table = this.table;
    if (this.fullIdentity) {
      // Inserts only, so one COPY per step: PostgreSQL inserts them in bulk (heap_multi_insert), about twice as fast
      // as INSERT … SELECT FROM unnest for pgbench_history's rows.
      const columns = this.#columns!;
      for (let start = 0; start < this.#inserts.length; start += this.maxRows) {
        const rows = this.#inserts.slice(start, start + this.maxRows);
        steps.push({ kind: 'copy-rows', table, columns, rows: copyText(rows, columns.length), count: rows.length });
      }
      return;
    }
    const keyColumns = this.keyColumns;
    const deletes: KeyState[] = [];
    const upserts: Cells[] = [];
    for (const st of this.#states.values()) {
      if (st.row === null || st.deleteFirst) deletes.push(st);
      if (st.row !== null) upserts.push(st.row);
    }
    for (let start = 0; start < deletes.length; start += this.maxRows) {
      const rows = deletes.slice(start, start + this.maxRows);
      steps.push({ kind: 'delete-keys', table, keyColumns, data: keyArrays(rows, keyColumns.length), count: rows.length });
    }
    if (upserts.length === 0) return;
    const columns = this.#columns!;
    const keySet = new Set(keyColumns);
    const otherColumns: string[] = [];
    const idx = keyColumns.map((k) => columns.indexOf(k));
    columns.forEach((c, i) => {
      if (keySet.has(c)) return;
      otherColumns.push(c);
      idx.push(i);
    });
    for (let start = 0; start < upserts.length; start += this.maxRows) {
      const rows = upserts.slice(start, start + this.maxRows);
      steps.push({ kind: 'upsert-keys', table, keyColumns, otherColumns, data: columnArrays(rows, idx), count: rows.length });
    }
  }

  #sameColumns(columns: readonly string[]): boolean {
    if (this.#columns === null) {
      this.#columns = columns;
      return true;
    }
    return sameNames(this.#columns, columns);
  }
}

/** The identity of a row's key by its bytes: equal bytes are equal text. */
function keyId(cells: Cells, keyIdx: readonly number[]): string | null {
  const { bytes, ranges } = cells;
  if (keyIdx.length === 1) {
    const i = keyIdx[0]!;
    const start = ranges[2 * i]!;
    return start < 0 ? null : latin1(bytes, start, ranges[2 * i + 1]!);
  }
  const parts: (string | null)[] = [];
  for (const i of keyIdx) {
    const start = ranges[2 * i]!;
    parts.push(start < 0 ? null : latin1(bytes, start, ranges[2 * i + 1]!));
  }
  return JSON.stringify(parts);
}

/** Column-major binary text[]s: for each position in `idx`, that column's value of every row. */
function columnArrays(rows: readonly Cells[], idx: readonly number[]): BinaryTextArray[] {
  const out: BinaryTextArray[] = [];
  for (const i of idx) {
    let bytes = 0;
    for (const r of rows) bytes += 4 + Math.max(0, r.ranges[2 * i + 1]! - r.ranges[2 * i]!);
    const b = new TextArrayBuilder(20 + bytes);
    for (const r of rows) b.add(r.bytes, r.ranges[2 * i]!, r.ranges[2 * i + 1]!);
    out.push(b.finish());
  }
  return out;
}

function copyText(rows: readonly Cells[], width: number): Buffer {
  const b = new CopyTextBuilder(rows.length * (width + 1) * 8);
  for (const { bytes: src, ranges } of rows) {
    for (let i = 0; i < width; i++) b.value(src, ranges[2 * i]!, ranges[2 * i + 1]!);
    b.endRow();
  }
  return b.finish();
}

/** Column-major binary text[]s of the keys, each read at its own positions. */
function keyArrays(keys: readonly KeyState[], width: number): BinaryTextArray[] {
  const out: BinaryTextArray[] = [];
  for (let k = 0; k < width; k++) {
    const b = new TextArrayBuilder(20 + keys.length * 16);
    for (const { key, keyIdx } of keys) {
      const i = keyIdx[k]!;
      b.add(key.bytes, key.ranges[2 * i]!, key.ranges[2 * i + 1]!);
    }
    out.push(b.finish());
  }
  return out;
}

