import { ReplicationError } from '../../core/errors.ts';
import { formatLsn, type Lsn } from '../../core/lsn.ts';
import { tableKey, type RowChange, type TableId, type Value } from '../../model/change.ts';
import { DCSYNC_SCHEMA, type SourceTable } from '../../source/postgres/catalog.ts';
import type { PgOutputMessage, RelationColumn, Tuple } from '../../source/postgres/protocol/index.ts';

interface RelationInfo {
  table: TableId;
  /** Skip: dcsync's own schema. */
  internal: boolean;
  columns: readonly RelationColumn[];
  source?: SourceTable;
  /** Position of each key column in the relation's columns. */
  keyIdx: number[];
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
      this.#relations.set(m.relationId, { table, internal: true, columns: m.columns, keyIdx: [] });
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
    const keyIdx = source.keyColumns.map((k) => names.indexOf(k));
    this.#relations.set(m.relationId, { table, internal: false, columns: m.columns, source, keyIdx });
  }

  relation(relationId: number): RelationInfo {
    const r = this.#relations.get(relationId);
    if (!r) throw new ReplicationError(`pgoutput sent a change for relation ${relationId} before its Relation message`);
    return r;
  }

  /** The RowChange for an insert/update/delete, or undefined for dcsync's own tables. */
  build(m: Extract<PgOutputMessage, { tag: 'insert' | 'update' | 'delete' }>): RowChange | undefined {
    const rel = this.relation(m.relationId);
    if (rel.internal || !rel.source) return undefined;
    const s = rel.source;
    // A table without identity only ever sends inserts (see ensurePublications); they are applied as plain inserts.
    const base = { table: rel.table, keyColumns: s.noIdentity ? s.columns : s.keyColumns, fullIdentity: s.fullIdentity || s.noIdentity };
    const columns = s.columns;
    switch (m.tag) {
      case 'insert':
        return { ...base, op: 'insert', columns, values: textValues(m.newTuple, rel) };
      case 'update': {
        const values = textValues(m.newTuple, rel);
        const old = m.oldTuple ? textValues(m.oldTuple, rel) : undefined;
        const unchanged: number[] = [];
        m.newTuple.forEach((v, i) => {
          if (v.kind !== 'unchanged') return;
          // With REPLICA IDENTITY FULL the old row carries the value: use it and keep the update whole.
          const o = m.oldKind === 'O' ? m.oldTuple?.[i] : undefined;
          if (o && o.kind === 'text') values[i] = o.value;
          else unchanged.push(i);
        });
        let oldKey: Value[] | undefined;
        if (old) {
          oldKey = rel.keyIdx.map((i) => old[i] ?? null);
          const newKey = rel.keyIdx.map((i) => values[i] ?? null);
          if (!s.fullIdentity && oldKey.every((v, i) => v === newKey[i])) oldKey = undefined;
        }
        return { ...base, op: 'update', columns, values, unchanged, ...(oldKey ? { oldKey } : {}) };
      }
      case 'delete': {
        const old = textValues(m.oldTuple, rel);
        return { ...base, op: 'delete', oldKey: rel.keyIdx.map((i) => old[i] ?? null) };
      }
    }
  }

  tableOf(relationId: number): { table: TableId; internal: boolean } {
    const r = this.relation(relationId);
    return { table: r.table, internal: r.internal };
  }
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
