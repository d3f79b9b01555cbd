import { ReplicationError } from '../core/errors.ts';
import { formatLsn, type Lsn } from '../core/lsn.ts';
import { tableKey, type RowChange, type TableId, type Value } from '../model/change.ts';
import { DCSYNC_SCHEMA, tableShapeChange, type SourceTable } from './catalog.ts';
import type { PgOutputMessage, RelationColumn, Tuple } from '../postgres/protocol/index.ts';
import { rowChangeOf, type ChangeRelation } from '../model/row-change-of.ts';
import { KeyHash } from '../transport/partition-key.ts';

export interface RelationInfo {
  table: TableId;
  /** Skip: dcsync's own schema. */
  internal: boolean;
  columns: readonly RelationColumn[];
  /** Unset for dcsync's own tables and for tables whose replication stopped: their changes are dropped. */
  source?: SourceTable;
  /** The table as its changes name it (key columns and their positions, identity), in the domain and in change
   * batches: one object per relation, so a batch lists it once. */
  change: ChangeRelation;
  /** Partition hash of a table kept in one partition; of the others, the running hash to start each key from. */
  hash: number;
  /** All of the table's changes go to one partition (`hash`): its identity is the whole row, or rows of
   * different keys can conflict through another unique index or an exclusion constraint. */
  wholeTable: boolean;
  /** A table without replica identity (inserts only): rows are hashed by all their values (partition-key.ts). */
  insertOnly: boolean;
}

type RelMessage = Extract<PgOutputMessage, { tag: 'relation' }>;

/** A table whose replication stops here, and why (for the operator: what happened and the fix). */
export interface TableFailure {
  table: TableId;
  reason: string;
}

/**
 * Turns pgoutput row messages into domain RowChanges, using the structure announced with the initial copy.
 * A relation that did not exist then stops replication with an error that names the table; one whose shape
 * differs from it (dropped and created again, columns, types, replica identity: DDL while streaming or while the
 * task was stopped) stops that table: `onRelation` says so once, and its changes are dropped from then on.
 * Never a silent divergence.
 */
export class ChangeBuilder {
  readonly #relations = new Map<number, RelationInfo>();
  readonly #tables: Map<string, SourceTable>;
  readonly #failed = new Set<string>();

  constructor(tables: readonly SourceTable[]) {
    this.#tables = new Map(tables.map((t) => [tableKey(t.table), t]));
  }

  /** Stops a table: its changes are dropped from now on. False when it was stopped already. */
  failTable(table: TableId): boolean {
    const k = tableKey(table);
    if (this.#failed.has(k)) return false;
    this.#failed.add(k);
    for (const r of this.#relations.values()) if (tableKey(r.table) === k) delete r.source;
    return true;
  }

  /** The table's failure when its shape differs from the announced one and it was not stopped before. */
  onRelation(m: RelMessage, at: Lsn): TableFailure | undefined {
    const table = { schema: m.schema, name: m.name };
    const skipped = { table, keyColumns: [], columns: [], fullIdentity: false, keyIdx: [] };
    if (m.schema === DCSYNC_SCHEMA) {
      this.#relations.set(m.relationId, { table, internal: true, columns: m.columns, change: skipped, hash: 0, wholeTable: false, insertOnly: false });
      return undefined;
    }
    const k = tableKey(table);
    const source = this.#tables.get(k);
    const where = `table ${k} (at LSN ${formatLsn(at)})`;
    if (!source)
      throw new ReplicationError(
        `${where} did not exist when the sync started: replicating structure changes (DDL) is not supported yet. Stop the sync and configure it again to include it.`,
      );
    const names = m.columns.map((c) => c.name);
    const shapeChange = tableShapeChange(source, {
      oid: m.relationId,
      columns: names,
      types: m.columns.map((c) => c.typeOid),
      typmods: m.columns.map((c) => c.typeMod),
      identity: m.replicaIdentity,
      identityColumns: m.columns.filter((c) => c.isKey).map((c) => c.name),
    });
    if (shapeChange !== undefined || this.#failed.has(k)) {
      this.#relations.set(m.relationId, { table, internal: false, columns: m.columns, change: skipped, hash: 0, wholeTable: false, insertOnly: false });
      if (shapeChange === undefined || !this.failTable(table)) return undefined;
      return { table, reason: structureChanged(where, shapeChange) };
    }
    // A table without identity only ever sends inserts (see ensurePublications): they are applied as plain inserts.
    const keyColumns = source.noIdentity ? source.columns : source.keyColumns;
    const keyIdx = keyColumns.map((k) => names.indexOf(k));
    const fullIdentity = source.fullIdentity || source.noIdentity;
    const change: ChangeRelation = { table, keyColumns, columns: source.columns, fullIdentity, keyIdx };
    const insertOnly = source.noIdentity;
    const wholeTable = !insertOnly && (fullIdentity || source.otherUniqueness);
    const hash = wholeTable ? KeyHash.ofTable(table) : KeyHash.prefixOf(table);
    this.#relations.set(m.relationId, { table, internal: false, columns: m.columns, source, change, hash, wholeTable, insertOnly });
    return undefined;
  }

  relation(relationId: number): RelationInfo {
    const r = this.#relations.get(relationId);
    if (!r) throw new ReplicationError(`pgoutput sent a change for relation ${relationId} before its Relation message`);
    return r;
  }

  /** The RowChange for an insert/update/delete, or undefined for dcsync's own tables. Hot path: no spreads, no closures. */
  build(m: Extract<PgOutputMessage, { tag: 'insert' | 'update' | 'delete' }>): RowChange | undefined {
    const rel = this.relation(m.relationId);
    if (rel.internal || !rel.source) return undefined;
    const values = m.tag === 'delete' ? undefined : textValues(m.newTuple, rel);
    const unchanged: number[] = [];
    if (m.tag === 'update') for (let i = 0; i < m.newTuple.length; i++) if (m.newTuple[i]!.kind === 'unchanged') unchanged.push(i);
    const old = m.tag === 'insert' || !m.oldTuple ? undefined : textValues(m.oldTuple, rel);
    return rowChangeOf(rel.change, m.tag, values, unchanged, m.tag === 'insert' ? undefined : m.oldKind, old);
  }

  /** A relation's table, and whether its changes are dropped (dcsync's own, or stopped). */
  tableOf(relationId: number): { table: TableId; internal: boolean } {
    const r = this.relation(relationId);
    return { table: r.table, internal: r.internal || !r.source };
  }
}

/** The reason a table stops because its shape changed, with the fix. */
export function structureChanged(where: string, change: string): string {
  return `${where} changed structure: ${change}. Replicating structure changes (DDL) is not supported yet, so the table's replication is stopped (the other tables go on). Fix: stop the sync and configure it again, which copies the table anew.`;
}

function textValues(t: Tuple, rel: RelationInfo): Value[] {
  const out: Value[] = new Array<Value>(t.length);
  for (let i = 0; i < t.length; i++) {
    const v = t[i]!;
    if (v.kind === 'text') out[i] = v.value;
    else if (v.kind === 'null' || v.kind === 'unchanged') out[i] = null;
    else throw new ReplicationError(`table ${tableKey(rel.table)}: binary value in column ${rel.columns[i]?.name}; dcsync requests text values`);
  }
  return out;
}

/** A change that moves a row to another key: in parallel mode it must be ordered against both keys' partitions. */
export function isKeyChange(c: RowChange): boolean {
  return c.op === 'update' && c.oldKey !== undefined && !c.fullIdentity;
}
