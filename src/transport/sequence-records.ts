/**
 * Sequence values travel apart from row changes (logical decoding does not carry them): the source samples
 * pg_sequences and sends every value in one record, gzip'd JSON `{db, at, seqs: [[schema, name, last_value]]}`
 * (values as decimal strings: they are bigint). The destination only ever moves a sequence forward.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { DcsyncError } from '../core/errors.ts';
import type { KafkaRecord } from './record-format/index.ts';

export interface SequenceValue {
  readonly schema: string;
  readonly name: string;
  /** pg_sequences.last_value: the last value handed out. */
  readonly lastValue: bigint;
}

export interface SequenceSample {
  readonly database: string;
  /** When the source read the values (ms since the Unix epoch, the source's clock). */
  readonly at: number;
  readonly values: readonly SequenceValue[];
}

export function encodeSequenceRecord(s: SequenceSample): KafkaRecord {
  const json = JSON.stringify({ db: s.database, at: s.at, seqs: s.values.map((v) => [v.schema, v.name, v.lastValue.toString()]) });
  return { key: Buffer.from(s.database), value: gzipSync(json), headers: { 'dcsync-kind': 'sequences', 'dcsync-db': s.database } };
}

/** A sample lists a database's sequences: far below this; a larger body is refused, not inflated. */
const MAX_SEQUENCES_BODY_BYTES = 64 * 1024 * 1024;

export function decodeSequenceRecord(value: Buffer): SequenceSample {
  let o: unknown;
  try {
    o = JSON.parse(gunzipSync(value, { maxOutputLength: MAX_SEQUENCES_BODY_BYTES }).toString('utf8'));
  } catch (err) {
    throw new DcsyncError(`a sequences record is not gzip'd JSON: ${(err as Error).message}`);
  }
  const r = o as { db?: unknown; at?: unknown; seqs?: unknown };
  if (typeof r.db !== 'string' || typeof r.at !== 'number' || !Array.isArray(r.seqs)) throw new DcsyncError('a sequences record lacks db, at or seqs');
  const values = r.seqs.map((x: unknown) => {
    if (!Array.isArray(x) || x.length !== 3 || typeof x[0] !== 'string' || typeof x[1] !== 'string' || typeof x[2] !== 'string' || !/^-?\d+$/.test(x[2])) {
      throw new DcsyncError('a sequences record holds a malformed entry');
    }
    return { schema: x[0], name: x[1], lastValue: BigInt(x[2]) };
  });
  return { database: r.db, at: r.at, values };
}
