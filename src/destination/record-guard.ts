import { ReplicationError } from '../core/errors.ts';
import { tableKey, type TableId } from '../model/change.ts';
import { macProblem, type RecordKey, type SignedParts } from '../transport/record-auth.ts';

/** Where a record came from, to name it when it is refused. */
export interface RecordOrigin {
  topic: string;
  partition: number;
  offset: string;
}

/** A record from Kafka that dcsync does not apply: the task stops, naming the record; nothing of it is applied. */
export class ForgedRecordError extends ReplicationError {
  constructor(
    readonly origin: RecordOrigin,
    reason: string,
  ) {
    super(
      `refusing record at topic '${origin.topic}' partition ${origin.partition} offset ${origin.offset}: ${reason}. Nothing of it was applied; find out who wrote it to the topic (only dcsync's source task and MirrorMaker 2 may), then configure the sync again`,
      { retriable: false },
    );
  }
}

/** Schemas no replicated table can live in: the server's own catalogs and dcsync's state. */
const FORBIDDEN_SCHEMA = /^(pg_.*|information_schema|dcsync)$/;

/** Refuses a table that cannot belong to the replicated set, whatever the record says. */
export function checkReplicatedTable(table: TableId, origin: RecordOrigin): void {
  if (typeof table.schema !== 'string' || typeof table.name !== 'string' || table.schema === '' || table.name === '') {
    throw new ForgedRecordError(origin, 'it names no valid table');
  }
  if (FORBIDDEN_SCHEMA.test(table.schema)) throw new ForgedRecordError(origin, `it names ${tableKey(table)}, which is not a replicated table (system or dcsync schema)`);
}

/** Refuses a record that does not carry this sync run's authentication code; without a key, nothing is checked. */
export function checkRecordMac(key: RecordKey | undefined, record: Omit<SignedParts, 'partition'>, origin: RecordOrigin): void {
  if (!key) return;
  const problem = macProblem(key, { ...record, partition: origin.partition });
  if (problem) throw new ForgedRecordError(origin, problem);
}
