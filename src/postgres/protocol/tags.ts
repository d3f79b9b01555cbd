/** The tag and marker bytes of pgoutput's messages (PostgreSQL docs, "Logical Replication Message Formats"). */

/** Message tags (first byte). Protocol v3/v4 tags (two-phase commit, parallel streaming) are not supported. */
export const enum PgOutputTag {
  Begin = 0x42 /* B */,
  Commit = 0x43 /* C */,
  Origin = 0x4f /* O */,
  Relation = 0x52 /* R */,
  Type = 0x59 /* Y */,
  Insert = 0x49 /* I */,
  Update = 0x55 /* U */,
  Delete = 0x44 /* D */,
  Truncate = 0x54 /* T */,
  Message = 0x4d /* M */,
  StreamStart = 0x53 /* S */,
  StreamStop = 0x45 /* E */,
  StreamCommit = 0x63 /* c */,
  StreamAbort = 0x41 /* A */,
}

/** Kind byte of one TupleData column. */
export const enum ColumnKind {
  Null = 0x6e /* n */,
  Unchanged = 0x75 /* u */,
  Text = 0x74 /* t */,
  Binary = 0x62 /* b */,
}

/** Byte that introduces a TupleData inside Insert/Update/Delete. */
export const enum TupleMarker {
  New = 0x4e /* N */,
  Key = 0x4b /* K */,
  Old = 0x4f /* O */,
}
