/**
 * The record envelope: how dcsync's stream is laid out in Kafka records. Pure: domain values in,
 * `{key, value, headers}` out and back. Every record carries its origin in headers (database, commit LSN,
 * index within the transaction, xid, commit time); positions are LSNs, never Kafka offsets.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { ProtocolError } from '../core/errors.ts';
import { formatLsn, parseLsn, type Lsn } from '../core/lsn.ts';
import type { Position, RowChange, TableId, Value } from '../model/change.ts';

export const H = {
  db: 'dcsync-db',
  kind: 'dcsync-kind',
  lsn: 'dcsync-lsn',
  idx: 'dcsync-idx',
  xid: 'dcsync-xid',
  ts: 'dcsync-ts',
  end: 'dcsync-end',
  table: 'dcsync-table',
  chunk: 'dcsync-chunk',
  enc: 'dcsync-enc',
} as const;

/** What happens at one position of the change stream that every partition must reach before it is applied. */
export type Barrier =
  | { type: 'changes'; changes: RowChange[] }
  | { type: 'truncate'; tables: TableId[]; cascade: boolean; restartIdentity: boolean }
  | { type: 'table-failed'; table: TableId; reason: string };

interface Origin {
  pos: Position;
  xid: number;
  /** Commit time in microseconds since the Unix epoch. */
  commitTimeUs: bigint;
}

export type ChangeStreamRecord =
  | (Origin & { kind: 'change'; change: RowChange; endOfTx: boolean })
  /** End of a transaction in this partition, for transactions too large to be flagged on their last record. */
  | (Origin & { kind: 'commit' })
  | (Origin & { kind: 'barrier'; barrier: Barrier; endOfTx: boolean })
  | (Origin & { kind: 'heartbeat' });

export type SnapshotStreamRecord =
  | { kind: 'schema'; snapshotLsn: Lsn; preData: string }
  | { kind: 'table-begin'; table: TableId; snapshotLsn: Lsn; columns: string[]; estimatedRows: number }
  | { kind: 'chunk'; table: TableId; snapshotLsn: Lsn; chunk: number; part: number; last: boolean; rows: number; data: Buffer }
  | { kind: 'table-end'; table: TableId; snapshotLsn: Lsn; chunks: number; rows: number }
  | { kind: 'snapshot-end'; snapshotLsn: Lsn; postData: string; tables: TableId[] };

export interface KafkaRecord {
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, string>;
}

/** What a consumer hands us: header values may be Buffers, strings, or arrays of them. */
export type RawHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

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

export function changeToJson(c: RowChange): ChangeJson {
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

export function changeFromJson(j: ChangeJson): RowChange {
  const table = { schema: j.t[0], name: j.t[1] };
  const base = { table, keyColumns: j.k, fullIdentity: j.f === 1 };
  switch (j.o) {
    case 'i':
      return { ...base, op: 'insert', columns: j.c ?? [], values: j.v ?? [] };
    case 'u':
      return { ...base, op: 'update', columns: j.c ?? [], values: j.v ?? [], unchanged: j.u ?? [], ...(j.ok ? { oldKey: j.ok } : {}) };
    case 'd':
      return { ...base, op: 'delete', oldKey: j.ok ?? [] };
    default:
      throw new ProtocolError(`unknown change op '${String((j as { o: unknown }).o)}'`);
  }
}

function barrierToJson(b: Barrier): unknown {
  return b.type === 'changes' ? { type: 'changes', changes: b.changes.map(changeToJson) } : b;
}

function barrierFromJson(j: { type: string; changes?: ChangeJson[] } & Record<string, unknown>): Barrier {
  if (j.type === 'changes') return { type: 'changes', changes: (j.changes ?? []).map(changeFromJson) };
  if (j.type === 'truncate' || j.type === 'table-failed') return j as unknown as Barrier;
  throw new ProtocolError(`unknown barrier type '${j.type}'`);
}

/** The Kafka key of a change: table and key values; it decides the partition in parallel mode. */
export function changeKey(c: RowChange): string {
  const t = `${c.table.schema}.${c.table.name}`;
  // Whole-row identities change with every update: keep such a table's changes in one partition.
  if (c.fullIdentity) return t;
  const key = c.op === 'delete' ? c.oldKey : keyValues(c);
  return t + '\u0000' + JSON.stringify(key);
}

function keyValues(c: Exclude<RowChange, { op: 'delete' }>): Value[] {
  return c.keyColumns.map((k) => c.values[c.columns.indexOf(k)] ?? null);
}

function originHeaders(db: string, kind: string, o: Origin, end: boolean): Record<string, string> {
  const h: Record<string, string> = {
    [H.db]: db,
    [H.kind]: kind,
    [H.lsn]: formatLsn(o.pos.lsn),
    [H.idx]: String(o.pos.index),
    [H.xid]: String(o.xid),
    [H.ts]: o.commitTimeUs.toString(),
  };
  if (end) h[H.end] = '1';
  return h;
}

export function encodeChangeRecord(db: string, r: ChangeStreamRecord): KafkaRecord {
  switch (r.kind) {
    case 'change':
      return {
        key: Buffer.from(changeKey(r.change)),
        value: Buffer.from(JSON.stringify(changeToJson(r.change))),
        headers: originHeaders(db, 'change', r, r.endOfTx),
      };
    case 'barrier':
      return { key: null, value: Buffer.from(JSON.stringify(barrierToJson(r.barrier))), headers: originHeaders(db, 'barrier', r, r.endOfTx) };
    case 'commit':
      return { key: null, value: Buffer.alloc(0), headers: originHeaders(db, 'commit', r, true) };
    case 'heartbeat':
      return { key: null, value: Buffer.alloc(0), headers: originHeaders(db, 'heartbeat', r, true) };
  }
}

export function headerText(headers: RawHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : one.toString();
}

function requireHeader(headers: RawHeaders | undefined, name: string): string {
  const v = headerText(headers, name);
  if (v === undefined) throw new ProtocolError(`record lacks header '${name}'`);
  return v;
}

export function decodeOrigin(headers: RawHeaders | undefined): Origin {
  return {
    pos: { lsn: parseLsn(requireHeader(headers, H.lsn)), index: Number(requireHeader(headers, H.idx)) },
    xid: Number(requireHeader(headers, H.xid)),
    commitTimeUs: BigInt(requireHeader(headers, H.ts)),
  };
}

export function decodeChangeRecord(headers: RawHeaders | undefined, value: Buffer | null): ChangeStreamRecord {
  const kind = requireHeader(headers, H.kind);
  const origin = decodeOrigin(headers);
  const endOfTx = headerText(headers, H.end) === '1';
  switch (kind) {
    case 'change':
      return { ...origin, kind, endOfTx, change: changeFromJson(JSON.parse(value?.toString() ?? 'null') as ChangeJson) };
    case 'barrier':
      return { ...origin, kind, endOfTx, barrier: barrierFromJson(JSON.parse(value?.toString() ?? 'null') as { type: string }) };
    case 'commit':
    case 'heartbeat':
      return { ...origin, kind };
    default:
      throw new ProtocolError(`unknown change record kind '${kind}'`);
  }
}

function tableHeader(t: TableId): string {
  return JSON.stringify([t.schema, t.name]);
}

export function encodeSnapshotRecord(db: string, r: SnapshotStreamRecord): KafkaRecord {
  const headers: Record<string, string> = { [H.db]: db, [H.kind]: r.kind, [H.lsn]: formatLsn(r.snapshotLsn) };
  if ('table' in r) headers[H.table] = tableHeader(r.table);
  switch (r.kind) {
    case 'chunk':
      headers[H.chunk] = `${r.chunk}/${r.part}/${r.rows}`;
      if (r.last) headers[H.end] = '1';
      headers[H.enc] = 'gzip';
      return { key: null, value: gzipSync(r.data, { level: 1 }), headers };
    case 'schema':
    case 'snapshot-end': {
      headers[H.enc] = 'gzip';
      const { kind: _k, snapshotLsn: _l, ...rest } = r;
      return { key: null, value: gzipSync(Buffer.from(JSON.stringify(rest)), { level: 6 }), headers };
    }
    case 'table-begin':
    case 'table-end': {
      const { kind: _k, snapshotLsn: _l, table: _t, ...rest } = r;
      return { key: null, value: Buffer.from(JSON.stringify(rest)), headers };
    }
  }
}

export function decodeSnapshotRecord(headers: RawHeaders | undefined, value: Buffer | null): SnapshotStreamRecord {
  const kind = requireHeader(headers, H.kind);
  const snapshotLsn = parseLsn(requireHeader(headers, H.lsn));
  const raw = value ?? Buffer.alloc(0);
  const body = headerText(headers, H.enc) === 'gzip' ? gunzipSync(raw) : raw;
  const table = (): TableId => {
    const [schema, name] = JSON.parse(requireHeader(headers, H.table)) as [string, string];
    return { schema, name };
  };
  switch (kind) {
    case 'chunk': {
      const [chunk, part, rows] = requireHeader(headers, H.chunk).split('/').map(Number);
      return { kind, table: table(), snapshotLsn, chunk: chunk!, part: part!, rows: rows!, last: headerText(headers, H.end) === '1', data: body };
    }
    case 'schema': {
      const j = JSON.parse(body.toString()) as { preData: string };
      return { kind, snapshotLsn, preData: j.preData };
    }
    case 'snapshot-end': {
      const j = JSON.parse(body.toString()) as { postData: string; tables: TableId[] };
      return { kind, snapshotLsn, postData: j.postData, tables: j.tables };
    }
    case 'table-begin': {
      const j = JSON.parse(body.toString()) as { columns: string[]; estimatedRows: number };
      return { kind, table: table(), snapshotLsn, columns: j.columns, estimatedRows: j.estimatedRows };
    }
    case 'table-end': {
      const j = JSON.parse(body.toString()) as { chunks: number; rows: number };
      return { kind, table: table(), snapshotLsn, chunks: j.chunks, rows: j.rows };
    }
    default:
      throw new ProtocolError(`unknown snapshot record kind '${kind}'`);
  }
}
