import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { ReplicationError } from '../core/errors.ts';
import type { Lsn } from '../core/lsn.ts';
import { AbortedError } from '../core/time.ts';
import type { Logger } from '../core/logger.ts';
import { qualifiedName, quoteIdent, tableKey } from '../model/change.ts';
import { classifyPgError } from '../postgres/errors.ts';
import { readyForQueryAfter } from '../postgres/pg-internals.ts';
import type { SourceTable } from './catalog.ts';
import { encodeSnapshotRecord } from '../transport/record-format/index.ts';
import type { ChangeSink } from '../transport/sink.ts';

export interface CopyPlanChunk {
  table: SourceTable;
  chunk: number;
  /** ctid page range [fromPage, toPage); toPage undefined: to the end. Both undefined: the whole table. */
  fromPage?: number;
  toPage?: number;
}

/** Splits big tables into ctid page ranges so several sessions can copy them. */
export function planChunks(tables: readonly SourceTable[], chunkPages: number): Map<string, CopyPlanChunk[]> {
  const plan = new Map<string, CopyPlanChunk[]>();
  for (const t of tables) {
    const chunks: CopyPlanChunk[] = [];
    if (t.pages <= chunkPages) chunks.push({ table: t, chunk: 0 });
    else {
      const n = Math.ceil(t.pages / chunkPages);
      for (let i = 0; i < n; i++) {
        const c: CopyPlanChunk = { table: t, chunk: i, fromPage: i * chunkPages };
        if (i < n - 1) c.toPage = (i + 1) * chunkPages;
        chunks.push(c);
      }
    }
    plan.set(tableKey(t.table), chunks);
  }
  return plan;
}

export function copySql(c: CopyPlanChunk): string {
  const cols = c.table.columns.map(quoteIdent).join(', ');
  const name = qualifiedName(c.table.table);
  if (c.fromPage === undefined) return `COPY (SELECT ${cols} FROM ONLY ${name}) TO STDOUT`;
  const conds = [`ctid >= '(${c.fromPage},0)'::tid`];
  if (c.toPage !== undefined) conds.push(`ctid < '(${c.toPage},0)'::tid`);
  return `COPY (SELECT ${cols} FROM ONLY ${name} WHERE ${conds.join(' AND ')}) TO STDOUT`;
}

export interface CopierOptions {
  database: string;
  topic: string;
  snapshotLsn: Lsn;
  /** Connections that already imported the snapshot (BEGIN REPEATABLE READ; SET TRANSACTION SNAPSHOT). */
  sessions: pg.Client[];
  sink: ChangeSink;
  /** Raw COPY bytes per Kafka record (compressed afterwards). */
  partBytes: number;
  chunkPages: number;
  log: Logger;
  signal: AbortSignal;
  /** Called once a table's last record is durable in Kafka. */
  onTableDone(t: SourceTable, rows: number): Promise<void>;
}

/**
 * Copies tables from one snapshot into the snapshot topic: table-begin, chunk parts (COPY text, compressed), table-end.
 * Sessions take chunks from a shared queue, so big tables are copied by several sessions at once.
 */
export async function copyTables(tables: readonly SourceTable[], o: CopierOptions): Promise<void> {
  const plan = planChunks(tables, o.chunkPages);
  const queue: CopyPlanChunk[] = [];
  const remaining = new Map<string, { chunks: number; rows: number }>();
  for (const t of tables) {
    const chunks = plan.get(tableKey(t.table))!;
    o.sink.enqueue(o.topic, 0, encodeSnapshotRecord(o.database, { kind: 'table-begin', table: t.table, snapshotLsn: o.snapshotLsn, columns: t.columns, estimatedRows: t.estimatedRows }));
    remaining.set(tableKey(t.table), { chunks: chunks.length, rows: 0 });
    queue.push(...chunks);
  }
  const tableDone: Promise<void>[] = [];
  const worker = async (session: pg.Client): Promise<void> => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      if (o.signal.aborted) throw new AbortedError();
      const rows = await copyChunk(session, c, o);
      const r = remaining.get(tableKey(c.table.table))!;
      r.rows += rows;
      if (--r.chunks === 0) {
        const seq = o.sink.enqueue(
          o.topic,
          0,
          encodeSnapshotRecord(o.database, { kind: 'table-end', table: c.table.table, snapshotLsn: o.snapshotLsn, chunks: plan.get(tableKey(c.table.table))!.length, rows: r.rows }),
        );
        const t = c.table;
        const total = r.rows;
        tableDone.push(waitAcked(o.sink, seq, o.signal).then(() => o.onTableDone(t, total)));
        o.log.info('table copied', { table: tableKey(t.table), rows: total });
      }
    }
  };
  await Promise.all(o.sessions.map(worker));
  await Promise.all(tableDone);
  // A copy that returns has copied every chunk: the caller announces the end of the snapshot on that alone.
  if (o.signal.aborted) throw new AbortedError();
  const unfinished = [...remaining].filter(([, r]) => r.chunks > 0).map(([k]) => k);
  if (unfinished.length > 0) throw new ReplicationError(`the initial copy ended with chunks left of ${unfinished.join(', ')}`);
}

/** Resolves once the record with sequence number `seq`, and every record before it, is durable. */
export async function waitAcked(sink: ChangeSink, seq: number, signal: AbortSignal): Promise<void> {
  while (sink.acked < seq) await sink.flush(signal);
}

async function copyChunk(session: pg.Client, c: CopyPlanChunk, o: CopierOptions): Promise<number> {
  let part = 0;
  let rows = 0;
  let buffered: Buffer[] = [];
  let size = 0;
  const emit = async (last: boolean): Promise<void> => {
    const data = Buffer.concat(buffered, size);
    let n = 0;
    for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, i + 1)) n++;
    rows += n;
    o.sink.enqueue(o.topic, 0, encodeSnapshotRecord(o.database, { kind: 'chunk', table: c.table.table, snapshotLsn: o.snapshotLsn, chunk: c.chunk, part: part++, last, rows: n, data }));
    buffered = [];
    size = 0;
    await o.sink.waitForRoom(o.signal);
  };
  try {
    const copy = copyTo(copySql(c));
    // The stream ends at CopyDone; the session takes its next query only after ReadyForQuery.
    const ready = readyForQueryAfter(copy);
    const stream = session.query(copy);
    for await (const piece of stream as AsyncIterable<Buffer>) {
      let buf = piece;
      if (size + buf.length >= o.partBytes) {
        // Cut at a row boundary: COPY text rows end with \n, and a newline inside a value is escaped.
        const cut = buf.lastIndexOf(10);
        if (cut >= 0) {
          buffered.push(buf.subarray(0, cut + 1));
          size += cut + 1;
          buf = buf.subarray(cut + 1);
          await emit(false);
        }
      }
      if (buf.length > 0) {
        buffered.push(buf);
        size += buf.length;
      }
    }
    await emit(true);
    await ready;
  } catch (err) {
    throw classifyPgError(err);
  }
  return rows;
}
