/** The initial copy's records: a header per field of the stream entry, the body JSON or the chunk's COPY data. */
import { ProtocolError } from '../../core/errors.ts';
import { formatLsn, parseLsn } from '../../core/lsn.ts';
import type { TableId } from '../../model/change.ts';
import { compressBody, decompressBody, H, headerText, requireHeader, type KafkaRecord, type RawHeaders } from './envelope.ts';
import type { SnapshotStreamRecord } from './stream-records.ts';

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
