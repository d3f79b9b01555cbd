import { ProtocolError } from '../../core/errors.ts';
import { utf8 } from '../../core/utf8.ts';
import type { Cells, EncodedChange, RowChange, TableId, Value } from '../../model/change.ts';
import { rowChangeOf, type ChangeRelation } from '../../model/row-change-of.ts';
import { ColumnKind, PgOutputTag, RowScan, TupleMarker, valueLength } from '../../postgres/protocol/index.ts';

/** One scanner for every row read: reading is synchronous and keeps nothing of it. */
const scan = new RowScan();

const TAG = { insert: PgOutputTag.Insert, update: PgOutputTag.Update, delete: PgOutputTag.Delete } as const;

/**
 * A change of a change batch, its row data `buf[start, end)` (pgoutput's layout) read only when asked: `decode`
 * mirrors ChangeBuilder.build (same values, unchanged list and old key for the same pgoutput message), `cells`
 * gives the values' byte ranges without making strings.
 */
export class EncodedRow implements EncodedChange {
  constructor(
    readonly relation: ChangeRelation,
    readonly op: 'insert' | 'update' | 'delete',
    private readonly buf: Buffer,
    private readonly start: number,
    private readonly end: number,
  ) {}

  get table(): TableId {
    return this.relation.table;
  }
  get keyColumns(): readonly string[] {
    return this.relation.keyColumns;
  }
  get columns(): readonly string[] {
    return this.relation.columns;
  }
  get fullIdentity(): boolean {
    return this.relation.fullIdentity;
  }
  get keyIdx(): readonly number[] {
    return this.relation.keyIdx;
  }

  cells(): Cells | undefined {
    this.#scan();
    if (this.op === 'update' && scan.oldMarker >= 0) return undefined;
    const isDelete = this.op === 'delete';
    const count = isDelete ? scan.oldCount : scan.newCount;
    const cols = isDelete ? scan.oldCols : scan.newCols;
    const width = this.relation.columns.length;
    if (count !== width) throw this.#error(`${count} values for ${width} columns`);
    const buf = this.buf;
    const ranges = new Int32Array(2 * count);
    for (let i = 0; i < count; i++) {
      const at = cols[i]!;
      const kind = buf[at];
      if (kind === ColumnKind.Text) {
        ranges[2 * i] = at + 5;
        ranges[2 * i + 1] = at + 5 + valueLength(buf, at);
      } else if (kind === ColumnKind.Null) ranges[2 * i] = ranges[2 * i + 1] = -1;
      else return undefined;
    }
    return { bytes: buf, ranges };
  }

  decode(): RowChange {
    this.#scan();
    let oldKind: 'K' | 'O' | undefined;
    let old: Value[] | undefined;
    if (scan.oldMarker >= 0) {
      oldKind = scan.oldKind === TupleMarker.Key ? 'K' : 'O';
      old = this.#values(scan.oldCols, scan.oldCount, null);
    }
    if (this.op === 'delete') return rowChangeOf(this.relation, 'delete', undefined, [], oldKind, old);
    const unchanged: number[] = [];
    return rowChangeOf(this.relation, this.op, this.#values(scan.newCols, scan.newCount, unchanged), unchanged, oldKind, old);
  }

  /** Scans the row data into `scan`; values are text, never binary. */
  #scan(): void {
    try {
      scan.scanTuples(TAG[this.op], this.buf, this.start, this.end);
    } catch (e) {
      throw this.#error(e instanceof Error ? e.message : String(e));
    }
    if (scan.binaryColumn >= 0) throw this.#error(`binary value in column ${scan.binaryColumn}`);
  }

  /** The values of a scanned tuple ('u' and 'n' as null); the indexes of 'u' go to `unchanged` when given. */
  #values(cols: Int32Array, count: number, unchanged: number[] | null): Value[] {
    const buf = this.buf;
    const values = new Array<Value>(count);
    for (let i = 0; i < count; i++) {
      const at = cols[i]!;
      const kind = buf[at];
      if (kind === ColumnKind.Text) values[i] = utf8(buf, at + 5, at + 5 + valueLength(buf, at));
      else {
        values[i] = null;
        if (kind === ColumnKind.Unchanged) unchanged?.push(i);
      }
    }
    return values;
  }

  #error(what: string): ProtocolError {
    return new ProtocolError(`change batch: ${what} in a ${this.op} of ${this.relation.table.schema}.${this.relation.table.name} at offset ${this.start}`);
  }
}
