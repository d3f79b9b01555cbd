/**
 * PostgreSQL logical replication on the wire: bytes ↔ typed messages, no sockets, no clocks (except the
 * pgNowMicros default). Imports only src/core/.
 */
export type {
  PgOutputMessage,
  RelationColumn,
  ReplicaIdentity,
  StandbyStatus,
  Tuple,
  TupleValue,
  WalSenderFrame,
} from './messages.ts';
export { CopyFramer } from './copy-framer.ts';
export { PgOutputDecoder, PgOutputTag } from './pgoutput.ts';
export {
  decodeStandbyStatus,
  decodeWalSenderFrame,
  encodeStandbyStatus,
  pgNowMicros,
  pgTimeToDate,
  WalSenderTag,
  xlogDataAt,
  type XLogData,
} from './walsender.ts';
export { ColumnKind, TupleMarker } from './tags.ts';
export { hasValue, RowScan, valueLength } from './row-scan.ts';
