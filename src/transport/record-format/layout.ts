/**
 * Change batches, format 3: many entries of one partition in one Kafka record, in a binary body whose row data
 * has the layout of pgoutput's, so the source forwards a row's bytes as the walsender sent them (no strings, no
 * JSON) and the destination reads the values once.
 *
 *   body    := 0x03 entry*                                  (compressed when 1 kB or more: envelope.ts compressBody)
 *   entry   := 'r' u32 len json                             a relation: [schema, name, keyColumns, columns, full];
 *                                                           the n-th 'r' of a body is relation n
 *            | 'c' flags i32 index [origin] u16 rel u8 op u32 len rowdata
 *            | 'b' flags i32 index [origin] u32 len json    a barrier (barrier-json.ts)
 *            | 'm' flags i32 index [origin]                 the end of a transaction in this partition
 *            | 'h' flags i32 index [origin]                 a heartbeat
 *   flags   := 1 end of transaction | 2 origin follows: u64 commit LSN, u32 xid, i64 commit time (µs since
 *              the Unix epoch); without 2 the entry has the previous entry's origin
 *   op      := 'I' | 'U' | 'D'                              pgoutput's message tags (PgOutputTag)
 *   rowdata := as in pgoutput after the relation id: insert `'N' tuple`, update `['K'|'O' tuple] 'N' tuple`,
 *              delete `('K'|'O') tuple`; tuple := i16 count, per column 'n' | 'u' | 't' i32 len UTF-8 bytes
 *              (pgoutput's TupleMarker and ColumnKind; never 'b')
 *
 * Integers are big-endian. An index is -1 (MARKER_INDEX) for markers (heartbeats, table failures), else ≥ 0: see
 * model/position.ts; a heartbeat is read at MARKER_INDEX whatever index it carries (older writers wrote 0).
 * Integers other than indexes are unsigned. Values are PostgreSQL's text form. An update carries its old tuple only
 * where the destination needs it: identity of the whole row, a key that changed, or 'O' values for unchanged TOAST
 * columns. Decoding yields the same RowChanges as ChangeBuilder builds from the decoded pgoutput message.
 */

export const FORMAT_3 = 0x03;

export const enum EntryKind {
  Relation = 0x72 /* r */,
  Change = 0x63 /* c */,
  Barrier = 0x62 /* b */,
  Commit = 0x6d /* m */,
  Heartbeat = 0x68 /* h */,
}

/** Flag bits of an entry. */
export const END_OF_TX = 1;
export const ORIGIN = 2;

/** A relation entry's JSON. */
export type RelationJson = [string, string, readonly string[], readonly string[], 0 | 1];
