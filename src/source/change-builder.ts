import { ReplicationError } from '../core/errors.ts';
import { formatLsn, type Lsn } from '../core/lsn.ts';
import { tableKey, type RowChange, type TableId, type Value } from '../model/change.ts';
import { DCSYNC_SCHEMA, type SourceTable } from './catalog.ts';
import type { PgOutputMessage, RelationColumn, Tuple } from './protocol/index.ts';
import { rowChangeOf, type ChangeRelation } from '../transport/change-batch.ts';
import { KeyHash } from '../transport/partition-key.ts';

export interface RelationInfo {
  table: TableId;
  /** Skip: dcsync's own schema. */
  internal: boolean;
  columns: readonly RelationColumn[];
  source?: SourceTable;
  /** The table as its changes name it (key columns and their positions, identity), in the domain and in change
   * batches: one object per relation, so a batch lists it once. */
  change: ChangeRelation;
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
      const change = { table, keyColumns: [], columns: [], fullIdentity: false, keyIdx: [] };
      this.#relations.set(m.relationId, { table, internal: true, columns: m.columns, change, hash: 0, insertOnly: false });
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
    const change: ChangeRelation = { table, keyColumns, columns: source.columns, fullIdentity, keyIdx };
    const insertOnly = source.noIdentity;
    const hash = fullIdentity && !insertOnly ? KeyHash.ofTable(table) : KeyHash.prefixOf(table);
    this.#relations.set(m.relationId, { table, internal: false, columns: m.columns, source, change, hash, insertOnly });
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
