/**
 * Kafka offsets of the apply loop. A Kafka record holds many entries; it is done (its offset resolved, the next
 * offset stored with the data) only with its last entry. Offsets are resolved in the consumer's memory only: where
 * to resume after a restart is stored in the target, in the transaction of the data it covers.
 */
import { errorMessage } from '../../core/errors.ts';
import { tableKey, type EncodedChange, type RowChange, type TableId } from '../../model/change.ts';
import { readChangeBatch } from '../../transport/record-format/index.ts';
import { nextOffset } from '../../transport/kafka/kafka-source.ts';
import type { ChangeStreamRecord, RawHeaders } from '../../transport/record-format/index.ts';
import { type ChainStep, type RecordChain, type ResumePoint, sequenceOf } from '../../transport/record-sequence.ts';
import type { RecordKey } from '../../transport/record-auth.ts';
import { checkRecordMac, checkReplicatedTable, ForgedRecordError, type RecordOrigin } from '../record-guard.ts';

/** One entry of a change batch, with the Kafka record it came in; rows of format-3 batches stay encoded. */
export interface Item {
  offset: string;
  rec: ChangeStreamRecord<RowChange | EncodedChange>;
  /** The last entry of its Kafka record. */
  whole: boolean;
  /** The partition's chain mark before and after its Kafka record (record-sequence.ts). */
  chain: ChainStep;
}

export interface OffsetControl {
  resolveOffset(offset: string): void;
}

/** Marks everything up to `item` consumed: its record if it is the record's last entry, else the records before. */
export function resolveTo(ctl: OffsetControl, item: Item): void {
  if (item.whole) ctl.resolveOffset(item.offset);
  else if (BigInt(item.offset) > 0n) ctl.resolveOffset((BigInt(item.offset) - 1n).toString());
}

/** Where to read again from after a restart that follows `item`. */
export function resumeAt(item: Item): ResumePoint {
  return item.whole ? { offset: nextOffset(item.offset), mark: item.chain.after } : { offset: item.offset, mark: item.chain.before };
}

/** Whether the source announced a table (its initial copy): changes of any other table are refused. */
export type AnnouncedTables = (table: TableId) => boolean;

/** A record that does not decode is refused with its origin, as a forged one is: nothing of it is applied. */
function decodeRecord(headers: RawHeaders | undefined, value: Buffer | null, origin: RecordOrigin): ChangeStreamRecord<RowChange | EncodedChange>[] {
  try {
    return readChangeBatch(headers, value);
  } catch (err) {
    throw new ForgedRecordError(origin, `it cannot be decoded (${errorMessage(err)})`);
  }
}

/** The tables an entry names, for the record guard. */
function tablesOf(rec: ChangeStreamRecord<RowChange | EncodedChange>): readonly TableId[] {
  if (rec.kind === 'change') return [rec.change.table];
  if (rec.kind !== 'barrier') return [];
  const b = rec.barrier;
  if (b.type === 'truncate') return b.tables;
  if (b.type === 'table-failed') return [b.table];
  if (b.type === 'check') return [];
  return b.changes.map((c) => c.table);
}

/**
 * The entries of a fetched batch, decoded one Kafka record at a time as the loop reaches them (bounded memory). Each
 * record is first authenticated (when the sync's records are signed), then takes its place in the partition's chain (a gap stops here, before anything after it is applied). Every
 * table an entry names passes the record guard before the entry is handed on; the decoder shares one table object
 * among a relation's rows, so each object is checked once.
 */
export function* itemsOf(
  chain: RecordChain,
  messages: Iterable<{ offset: string; key?: Buffer | null; headers?: unknown; value: Buffer | null }>,
  checks: { announced?: AnnouncedTables; recordKey?: RecordKey } = {},
): Generator<Item> {
  const { topic, partition } = chain.origin;
  const announced = checks.announced ?? (() => true);
  const checked = new WeakSet<TableId>();
  chain.beginBatch();
  for (const m of messages) {
    const origin = { topic, partition, offset: m.offset };
    const headers = m.headers as RawHeaders | undefined;
    checkRecordMac(checks.recordKey, { key: m.key ?? null, headers, value: m.value }, origin);
    const step = chain.check(m.offset, sequenceOf(headers));
    const entries = decodeRecord(headers, m.value, origin);
    for (const e of entries)
      for (const t of tablesOf(e)) {
        if (checked.has(t)) continue;
        checkReplicatedTable(t, origin);
        // A table's failure only stops things, so it may name a table the target never copied.
        if (!(e.kind === 'barrier' && e.barrier.type === 'table-failed') && !announced(t)) throw new ForgedRecordError(origin, `it names ${tableKey(t)}, which the source did not announce for this sync`);
        checked.add(t);
      }
    for (let i = 0; i < entries.length; i++) yield { offset: m.offset, rec: entries[i]!, whole: i === entries.length - 1, chain: step };
  }
}
