import type { Logger } from '../../core/logger.ts';
import { type EncodedChange, type RowChange, type TableId, tableKey } from '../../model/change.ts';
import type { Position } from '../../model/position.ts';
import type { TargetTableState } from '../target-state.ts';

/** Which changes the target wants: none of a failed table, none that its snapshot copy already contains. */
export class TableFilter {
  // By TableId object: the changes of one batch body share theirs, so most lookups skip building the name.
  #byId = new WeakMap<TableId, TargetTableState | null>();

  constructor(
    private readonly tables: Map<string, TargetTableState>,
    private readonly log: Logger,
  ) {}

  wanted(c: RowChange | EncodedChange, pos: Position): boolean {
    let t = this.#byId.get(c.table);
    if (t === undefined) this.#byId.set(c.table, (t = this.tables.get(tableKey(c.table)) ?? null));
    return wants(t ?? undefined, pos);
  }

  wantedTable(table: TableId, pos: Position): boolean {
    return wants(this.tables.get(tableKey(table)), pos);
  }

  /** Whether the target holds this table's state: the source announced it with its initial copy. */
  announced(table: TableId): boolean {
    return this.tables.has(tableKey(table));
  }

  /** The table stopped replicating at the source: nothing more of it is applied. */
  markFailed(table: TableId, reason: string): void {
    const st = this.tables.get(tableKey(table));
    if (st) st.status = 'failed';
    else {
      this.tables.set(tableKey(table), failedTable(table, reason));
      this.#byId = new WeakMap();
    }
    this.log.error('table replication stopped', { table: tableKey(table), reason });
  }
}

function wants(t: TargetTableState | undefined, pos: Position): boolean {
  if (t?.status === 'failed') return false;
  // The table was copied from a snapshot taken after this change: the copy contains it already.
  return !t || pos.lsn >= t.snapshotLsn;
}

function failedTable(table: TableId, reason: string): TargetTableState {
  return { table, snapshotLsn: 0n as TargetTableState['snapshotLsn'], columns: [], status: 'failed', rowsCopied: 0, error: reason };
}
