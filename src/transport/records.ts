/**
 * The record envelope: how dcsync's stream is laid out in Kafka records. Pure: domain values in,
 * `{key, value, headers}` out and back. Every record carries its origin in headers (database, commit LSN,
 * index within the transaction, xid, commit time); positions are LSNs, never Kafka offsets.
 */
import { brotliCompressSync, brotliDecompressSync, constants as zlibConstants, gunzipSync } from 'node:zlib';
import { ProtocolError } from '../core/errors.ts';
import { formatLsn, parseLsn, type Lsn } from '../core/lsn.ts';
import type { RowChange, TableId, Value } from '../model/change.ts';
import { markerPosition, type Position } from '../model/position.ts';

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
  last: 'dcsync-last',
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

/** `C`: the change's form; decoders that keep rows encoded (readChangeBatch) give `RowChange | EncodedChange`. */
export type ChangeStreamRecord<C = RowChange> =
  | (Origin & { kind: 'change'; change: C; endOfTx: boolean })
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

/**
 * Bodies of 1 kB or more are compressed with Brotli at quality 1 (header `dcsync-enc: br`): on dcsync's bodies
 * (text-form rows) it compresses slightly better than gzip level 1 at about twice its speed, and decompresses as
 * fast. Every byte crosses three JVM hops (broker A, MirrorMaker 2, broker B) and the link between datacenters,
 * on machines whose CPUs also run PostgreSQL. gzip bodies (`dcsync-enc: gzip`, older dcsync) still decode.
 */
export function compressBody(body: Buffer, headers: Record<string, string>): Buffer {
  if (body.length < 1024) return Buffer.from(body);
  headers[H.enc] = 'br';
  return brotliCompressSync(body, { params: BROTLI_FAST });
}

const BROTLI_FAST = { [zlibConstants.BROTLI_PARAM_QUALITY]: 1 };

/**
 * The largest body a record may decompress to. A record is at most the topic's max.message.bytes (16 MiB)
 * compressed; a body that grows past this bound is refused rather than allowed to exhaust the destination's memory.
 */
export const MAX_BODY_BYTES = 256 * 1024 * 1024;

export function decompressBody(headers: RawHeaders | undefined, raw: Buffer | null, maxBytes = MAX_BODY_BYTES): Buffer {
  const body = raw ?? Buffer.alloc(0);
  const enc = headerText(headers, H.enc);
  if (enc === undefined) return body;
  try {
    if (enc === 'br') return brotliDecompressSync(body, { maxOutputLength: maxBytes });
    if (enc === 'gzip') return gunzipSync(body, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new ProtocolError(`record body decompresses to more than ${maxBytes} bytes`);
    throw new ProtocolError(`record body does not decompress (${enc}): ${(err as Error).message}`);
  }
  throw new ProtocolError(`unknown record encoding '${enc}'`);
}

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

export function changeFromJson(j: ChangeJson, tables?: TableCache): RowChange {
  // Literal objects of a fixed shape, no spreads: this runs for every change the destination reads.
  const table = tables ? tables.get(j.t) : { schema: j.t[0], name: j.t[1] };
  const keyColumns = j.k;
  const fullIdentity = j.f === 1;
  switch (j.o) {
    case 'i':
      return { op: 'insert', table, keyColumns, fullIdentity, columns: j.c ?? [], values: j.v ?? [] };
    case 'u':
      return j.ok
        ? { op: 'update', table, keyColumns, fullIdentity, columns: j.c ?? [], values: j.v ?? [], unchanged: j.u ?? noIndexes, oldKey: j.ok }
        : { op: 'update', table, keyColumns, fullIdentity, columns: j.c ?? [], values: j.v ?? [], unchanged: j.u ?? noIndexes };
    case 'd':
      return { op: 'delete', table, keyColumns, fullIdentity, oldKey: j.ok ?? [] };
    default:
      throw new ProtocolError(`unknown change op '${String((j as { o: unknown }).o)}'`);
  }
}

const noIndexes: readonly number[] = Object.freeze([]);

/** One TableId object per table within a decoded batch (the JSON repeats the names with every change). */
class TableCache {
  #schema = '';
  #name = '';
  #last: TableId | undefined;
  readonly #all = new Map<string, TableId>();

  get(t: readonly [string, string]): TableId {
    const [schema, name] = t;
    if (this.#last !== undefined && schema === this.#schema && name === this.#name) return this.#last;
    const k = schema + '\u0000' + name;
    let id = this.#all.get(k);
    if (id === undefined) this.#all.set(k, (id = { schema, name }));
    this.#schema = schema;
    this.#name = name;
    this.#last = id;
    return id;
  }
}

export function barrierToJson(b: Barrier): unknown {
  return b.type === 'changes' ? { type: 'changes', changes: b.changes.map(changeToJson) } : b;
}

export function barrierFromJson(j: { type: string; changes?: ChangeJson[] } & Record<string, unknown>): Barrier {
  if (j.type === 'changes') return { type: 'changes', changes: (j.changes ?? []).map((c) => changeFromJson(c)) };
  if (j.type === 'truncate' || j.type === 'table-failed') return j as unknown as Barrier;
  throw new ProtocolError(`unknown barrier type '${j.type}'`);
}

/** Compact form of one stream entry inside a change batch: [kind, lsn, index, xid, commit time µs, end of tx, payload]. */
type EntryJson = [string, string, number, number, string, 0 | 1, unknown?];

const KIND_CODE = { change: 'c', commit: 'm', barrier: 'b', heartbeat: 'h' } as const;

/** The version-1 form of an entry (a list of these was the whole body); still decoded, no longer written. */
export function entryToJson(r: ChangeStreamRecord): EntryJson {
  const head: EntryJson = [KIND_CODE[r.kind], formatLsn(r.pos.lsn), r.pos.index, r.xid, r.commitTimeUs.toString(), 0];
  switch (r.kind) {
    case 'change':
      head[5] = r.endOfTx ? 1 : 0;
      head.push(changeToJson(r.change));
      return head;
    case 'barrier':
      head[5] = r.endOfTx ? 1 : 0;
      head.push(barrierToJson(r.barrier));
      return head;
    default:
      head[5] = 1;
      return head;
  }
}

type RelationJson = [string, string, readonly string[], readonly string[] | null, 0 | 1];
type ChangeJsonV2 = [number, 'i' | 'u' | 'd', readonly Value[], (readonly number[] | 0)?, (readonly Value[])?];

interface Relation {
  table: TableId;
  keyColumns: readonly string[];
  columns: readonly string[];
  fullIdentity: boolean;
}

/**
 * Decodes the entries of one batch (either version). Consecutive entries mostly share a transaction: its LSN and
 * commit time are parsed once; every change of a relation shares its TableId and column arrays (which makes the
 * apply engine's per-table grouping cheap).
 */
class EntryDecoder {
  #lsnText = '';
  #lsn = 0n as Lsn;
  #tsText = '';
  #ts = 0n;
  readonly #tables = new TableCache();
  readonly #relations: Relation[];

  constructor(relations: readonly RelationJson[] = []) {
    this.#relations = relations.map((r) => ({ table: this.#tables.get([r[0], r[1]]), keyColumns: r[2], columns: r[3] ?? [], fullIdentity: r[4] === 1 }));
  }

  entry(e: EntryJson, v2: boolean): ChangeStreamRecord {
    // Version 2 writes 0 for "as the previous entry".
    const lsnText = e[1];
    if (lsnText !== this.#lsnText && !(v2 && (lsnText as unknown) === 0)) {
      this.#lsn = parseLsn(lsnText);
      this.#lsnText = lsnText;
    }
    const tsText = e[4];
    if (tsText !== this.#tsText && !(v2 && (tsText as unknown) === 0)) {
      this.#ts = BigInt(tsText);
      this.#tsText = tsText;
    }
    const pos: Position = { lsn: this.#lsn, index: e[2] };
    const xid = e[3];
    const commitTimeUs = this.#ts;
    switch (e[0]) {
      case 'c': {
        const change = v2 ? this.#change(e[6] as ChangeJsonV2) : changeFromJson(e[6] as ChangeJson, this.#tables);
        return { kind: 'change', pos, xid, commitTimeUs, endOfTx: e[5] === 1, change };
      }
      case 'b':
        return { kind: 'barrier', pos, xid, commitTimeUs, endOfTx: e[5] === 1, barrier: barrierFromJson(e[6] as { type: string }) };
      case 'm':
        return { kind: 'commit', pos, xid, commitTimeUs };
      case 'h':
        return { kind: 'heartbeat', pos: markerPosition(pos.lsn), xid, commitTimeUs };
      default:
        throw new ProtocolError(`unknown change entry kind '${e[0]}'`);
    }
  }

  /** Literal objects of a fixed shape, no spreads: this runs for every change the destination reads. */
  #change(j: ChangeJsonV2): RowChange {
    const rel = this.#relations[j[0]];
    if (rel === undefined) throw new ProtocolError(`change refers to relation ${j[0]}, the batch lists ${this.#relations.length}`);
    const { table, keyColumns, fullIdentity, columns } = rel;
    switch (j[1]) {
      case 'i':
        return { op: 'insert', table, keyColumns, fullIdentity, columns, values: j[2] };
      case 'u': {
        const unchanged = j[3] || noIndexes;
        const oldKey = j[4];
        return oldKey
          ? { op: 'update', table, keyColumns, fullIdentity, columns, values: j[2], unchanged, oldKey }
          : { op: 'update', table, keyColumns, fullIdentity, columns, values: j[2], unchanged };
      }
      case 'd':
        return { op: 'delete', table, keyColumns, fullIdentity, oldKey: j[2] };
      default:
        throw new ProtocolError(`unknown change op '${String(j[1])}'`);
    }
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

/** The body of a change batch in format 1 (a list of entries) or 2 (`{"v":2,"r":[relations],"e":[entries]}`), no longer written (change-batch.ts writes format 3). */
export function decodeChangeBatchJson(body: Buffer): ChangeStreamRecord[] {
  const parsed = JSON.parse(body.toString() || '[]') as EntryJson[] | { v: number; r: RelationJson[]; e: EntryJson[] };
  const v2 = !Array.isArray(parsed);
  if (v2 && (parsed.v !== 2 || !Array.isArray(parsed.r) || !Array.isArray(parsed.e))) throw new ProtocolError(`unknown change batch format (version ${String(parsed.v)})`);
  const entries = v2 ? parsed.e : parsed;
  const d = new EntryDecoder(v2 ? parsed.r : []);
  const out = new Array<ChangeStreamRecord>(entries.length);
  for (let i = 0; i < entries.length; i++) out[i] = d.entry(entries[i]!, v2);
  return out;
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
      return { key: null, value: compressBody(r.data, headers), headers };
    case 'schema':
    case 'snapshot-end': {
      const { kind: _k, snapshotLsn: _l, ...rest } = r;
      return { key: null, value: compressBody(Buffer.from(JSON.stringify(rest)), headers), headers };
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
  const body = decompressBody(headers, value);
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
