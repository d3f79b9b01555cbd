import { ProtocolError } from '../core/errors.ts';
import type { RowChange, TableId, Value } from './change.ts';

/** A table as a row change is derived for it: `keyIdx` is the position of each key column in `columns`. */
export interface ChangeRelation {
  readonly table: TableId;
  readonly keyColumns: readonly string[];
  readonly columns: readonly string[];
  readonly fullIdentity: boolean;
  readonly keyIdx: readonly number[];
}

/**
 * The RowChange of one pgoutput row, from its tuples' values (unchanged TOAST and NULL both as null; `unchanged`
 * lists the new tuple's unchanged TOAST columns). The one derivation shared by the source's ChangeBuilder (decoded
 * messages) and the destination's batch reader (row data of a change batch): unchanged values are taken from a full
 * old row ('O') where it has them; an update names its old key only when the key changed or the identity is the
 * whole row.
 */
export function rowChangeOf(
  rel: ChangeRelation,
  op: 'insert' | 'update' | 'delete',
  values: Value[] | undefined,
  unchanged: readonly number[],
  oldKind: 'K' | 'O' | undefined,
  old: readonly Value[] | undefined,
): RowChange {
  const { table, keyColumns, fullIdentity, columns, keyIdx } = rel;
  if (op === 'delete') {
    if (!old) throw new ProtocolError(`delete without old values (${table.schema}.${table.name})`);
    return { op: 'delete', table, keyColumns, fullIdentity, oldKey: pick(old, keyIdx) };
  }
  if (!values) throw new ProtocolError(`${op} without new values (${table.schema}.${table.name})`);
  if (op === 'insert') return { op: 'insert', table, keyColumns, fullIdentity, columns, values };
  const kept: number[] = [];
  for (const i of unchanged) {
    // With REPLICA IDENTITY FULL the old row carries the value: use it and keep the update whole.
    const o = oldKind === 'O' ? old?.[i] : undefined;
    if (o !== undefined && o !== null) values[i] = o;
    else kept.push(i);
  }
  if (!old) return { op: 'update', table, keyColumns, fullIdentity, columns, values, unchanged: kept };
  const oldKey = pick(old, keyIdx);
  if (!fullIdentity) {
    let same = true;
    for (let k = 0; k < keyIdx.length; k++) if (oldKey[k] !== values[keyIdx[k]!]) same = false;
    if (same) return { op: 'update', table, keyColumns, fullIdentity, columns, values, unchanged: kept };
  }
  return { op: 'update', table, keyColumns, fullIdentity, columns, values, unchanged: kept, oldKey };
}

function pick(values: readonly Value[], idx: readonly number[]): Value[] {
  const out = new Array<Value>(idx.length);
  for (let k = 0; k < idx.length; k++) out[k] = values[idx[k]!] ?? null;
  return out;
}
