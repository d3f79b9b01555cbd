/**
 * dcsync's records in Kafka: the envelope (headers, compression), change batches (layout.ts: written by the source
 * from pgoutput's bytes, read by the destination), barriers and the initial copy's records. Pure: domain values
 * and pgoutput bytes in, `{key, value, headers}` out and back.
 */
export { barrierFromJson, barrierToJson } from './barrier-json.ts';
export { EncodedRow } from './encoded-row.ts';
export { compressBody, decompressBody, H, headerText, requireHeader, type KafkaRecord, type RawHeaders } from './envelope.ts';
export { FORMAT_3 } from './layout.ts';
export { EntryOrigin } from './origin.ts';
export { decodeChangeBatch, readChangeBatch } from './reader.ts';
export { decodeSnapshotRecord, encodeSnapshotRecord } from './snapshot-records.ts';
export type { Barrier, ChangeStreamRecord, SnapshotStreamRecord } from './stream-records.ts';
export { ChangeBatchWriter, encodeChangeBatch, type BatchRelation } from './writer.ts';
