import { ReplicationError } from '../../core/errors.ts';
import { formatLsn, type Lsn } from '../../core/lsn.ts';
import { tableKey, type RowChange, type TableId, type Value } from '../../model/change.ts';
import { DCSYNC_SCHEMA, type SourceTable } from '../../source/postgres/catalog.ts';
import type { PgOutputMessage, RelationColumn, Tuple } from '../../source/postgres/protocol/index.ts';
import type { BatchRelation } from '../../transport/change-batch.ts';
import { KeyHash } from '../../transport/partition-key.ts';

export interface RelationInfo {
  table: TableId;
  /** Skip: dcsync's own schema. */
  internal: boolean;
  columns: readonly RelationColumn[];
  source?: SourceTable;
  /** Position of each key column in the relation's columns. */
  keyIdx: number[];
  keyColumns: readonly string[];
  fullIdentity: boolean;
  /** How change batches name this table (one object per relation: batches list it once). */
  batch: BatchRelation;
  /** Partition hash of a whole-row identity table; of the others, the running hash to start each key from. */
  hash: number;
  /** A table without replica identity (inserts only): rows are hashed by all their values (partition-key.ts). */
  insertOnly: boolean;
}

type RelMessage = Extract<PgOutputMessage, { tag: 'relation' }>;

/**
 * Turns pgoutput row messages into domain RowChanges, using the structure captured with the snapshot.
 * A relation whose structure differs from it (DDL while streaming) or that did not exist then stops
 * replication with an error that names the table: never a silent divergence.
 */
export class ChangeBuilder {
  readonly #relations = new Map<number, RelationInfo>();
  readonly #tables: Map<string, SourceTable>;

  constructor(tables: readonly SourceTable[]) {
    this.#tables = new Map(tables.map((t) => [tableKey(t.table), t]));
  }

  onRelation(m: RelMessage, at: Lsn): void {
    const table = { schema: m.schema, name: m.name };
    if (m.schema === DCSYNC_SCHEMA) {
      const batch = { table, keyColumns: [], columns: [], fullIdentity: false };
      this.#relations.set(m.relationId, { table, internal: true, columns: m.columns, keyIdx: [], keyColumns: [], fullIdentity: false, batch, hash: 0, insertOnly: false });
      return;
    }
    const source = this.#tables.get(tableKey(table));
    const where = `table ${tableKey(table)} (at LSN ${formatLsn(at)})`;
    if (!source)
      throw new ReplicationError(
        `${where} did not exist when the sync started: replicating structure changes (DDL) is not supported yet. Stop the sync and configure it again to include it.`,
      );
    const names = m.columns.map((c) => c.name);
    if (names.join('\u0000') !== source.columns.join('\u0000'))
      throw new ReplicationError(
        `${where} changed structure while streaming (columns now: ${names.join(', ')}; at the snapshot: ${source.columns.join(', ')}): replicating DDL is not supported yet. Stop the sync and configure it again.`,
      );
    // A table without identity only ever sends inserts (see ensurePublications): they are applied as plain inserts.
    const keyColumns = source.noIdentity ? source.columns : source.keyColumns;
    const keyIdx = keyColumns.map((k) => names.indexOf(k));
    const fullIdentity = source.fullIdentity || source.noIdentity;
    const batch: BatchRelation = { table, keyColumns, columns: source.columns, fullIdentity };
    const insertOnly = source.noIdentity;
    const hash = fullIdentity && !insertOnly ? KeyHash.ofTable(table) : KeyHash.prefixOf(table);
    this.#relations.set(m.relationId, { table, internal: false, columns: m.columns, source, keyIdx, keyColumns, fullIdentity, batch, hash, insertOnly });
  }

  relation(relationId: number): RelationInfo {
    const r = this.#relations.get(relationId);
    if (!r) throw new ReplicationError(`pgoutput sent a change for relation ${relationId} before its Relation message`);
    return r;
  }

  /** The RowChange for an insert/update/delete, or undefined for dcsync's own tables. Hot path: no spreads, no closures. */
  build(m: Extract<PgOutputMessage, { tag: 'insert' | 'update' | 'delete' }>): RowChange | undefined {
    const rel = this.relation(m.relationId);
    const s = rel.source;
    if (rel.internal || !s) return undefined;
    const table = rel.table;
    // A table without identity only ever sends inserts (see ensurePublications); they are applied as plain inserts.
    const keyColumns = rel.keyColumns;
    const fullIdentity = rel.fullIdentity;
    const columns = s.columns;
    if (m.tag === 'insert') return { op: 'insert', table, keyColumns, fullIdentity, columns, values: textValues(m.newTuple, rel) };
    if (m.tag === 'delete') {
      const old = textValues(m.oldTuple, rel);
      return { op: 'delete', table, keyColumns, fullIdentity, oldKey: pick(old, rel.keyIdx) };
    }
    const values = textValues(m.newTuple, rel);
    const unchanged: number[] = [];
    const oldTuple = m.oldTuple;
    for (let i = 0; i < m.newTuple.length; i++) {
      if (m.newTuple[i]!.kind !== 'unchanged') continue;
      // With REPLICA IDENTITY FULL the old row carries the value: use it and keep the update whole.
      const o = m.oldKind === 'O' ? oldTuple?.[i] : undefined;
      if (o && o.kind === 'text') values[i] = o.value;
      else unchanged.push(i);
    }
    if (!oldTuple) return { op: 'update', table, keyColumns, fullIdentity, columns, values, unchanged };
    const oldKey = pick(textValues(oldTuple, rel), rel.keyIdx);
    if (!fullIdentity) {
      let same = true;
      for (let k = 0; k < rel.keyIdx.length; k++) if (oldKey[k] !== values[rel.keyIdx[k]!]) same = false;
      if (same) return { op: 'update', table, keyColumns, fullIdentity, columns, values, unchanged };
    }
    return { op: 'update', table, keyColumns, fullIdentity, columns, values, unchanged, oldKey };
  }

  tableOf(relationId: number): { table: TableId; internal: boolean } {
    const r = this.relation(relationId);
    return { table: r.table, internal: r.internal };
  }
}

function pick(values: readonly Value[], idx: readonly number[]): Value[] {
  const out = new Array<Value>(idx.length);
  for (let k = 0; k < idx.length; k++) out[k] = values[idx[k]!] ?? null;
  return out;
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
