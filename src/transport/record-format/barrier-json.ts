/** A barrier entry's body: JSON, its key-changing updates in a compact form. */
import { ProtocolError } from '../../core/errors.ts';
import type { RowChange, Value } from '../../model/change.ts';
import type { Barrier } from './stream-records.ts';

/** What a check id looks like (control/v1/check.ts makes them); anything else in a check barrier is refused. */
const CHECK_ID = /^[a-z0-9-]{1,64}$/;

interface ChangeJson {
  t: [string, string];
  o: 'i' | 'u' | 'd';
  k: readonly string[];
  f?: 1;
  c?: readonly string[];
  v?: readonly Value[];
  u?: readonly number[];
  ok?: readonly Value[];
}

function changeToJson(c: RowChange): ChangeJson {
  const base = { t: [c.table.schema, c.table.name] as [string, string], k: c.keyColumns, ...(c.fullIdentity ? { f: 1 as const } : {}) };
  switch (c.op) {
    case 'insert':
      return { ...base, o: 'i', c: c.columns, v: c.values };
    case 'update':
      return {
        ...base,
        o: 'u',
        c: c.columns,
        v: c.values,
        ...(c.unchanged.length ? { u: c.unchanged } : {}),
        ...(c.oldKey ? { ok: c.oldKey } : {}),
      };
    case 'delete':
      return { ...base, o: 'd', ok: c.oldKey };
  }
}

function changeFromJson(j: ChangeJson): RowChange {
  const table = { schema: j.t[0], name: j.t[1] };
  const keyColumns = j.k;
  const fullIdentity = j.f === 1;
  switch (j.o) {
    case 'i':
      return { op: 'insert', table, keyColumns, fullIdentity, columns: j.c ?? [], values: j.v ?? [] };
    case 'u':
      return j.ok
        ? { op: 'update', table, keyColumns, fullIdentity, columns: j.c ?? [], values: j.v ?? [], unchanged: j.u ?? [], oldKey: j.ok }
        : { op: 'update', table, keyColumns, fullIdentity, columns: j.c ?? [], values: j.v ?? [], unchanged: j.u ?? [] };
    case 'd':
      return { op: 'delete', table, keyColumns, fullIdentity, oldKey: j.ok ?? [] };
    default:
      throw new ProtocolError(`unknown change op '${String((j as { o: unknown }).o)}'`);
  }
}

export function barrierToJson(b: Barrier): unknown {
  return b.type === 'changes' ? { type: 'changes', changes: b.changes.map(changeToJson) } : b;
}

export function barrierFromJson(j: { type: string; changes?: ChangeJson[] } & Record<string, unknown>): Barrier {
  if (j.type === 'changes') return { type: 'changes', changes: (j.changes ?? []).map(changeFromJson) };
  if (j.type === 'truncate' || j.type === 'table-failed') return j as unknown as Barrier;
  if (j.type === 'check') {
    if (typeof j['checkId'] !== 'string' || !CHECK_ID.test(j['checkId'])) throw new ProtocolError(`check barrier with a malformed check id`);
    return { type: 'check', checkId: j['checkId'] };
  }
  throw new ProtocolError(`unknown barrier type '${j.type}'`);
}
