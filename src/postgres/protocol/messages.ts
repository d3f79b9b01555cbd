import type { Lsn } from '../../core/lsn.ts';

/**
 * The messages of PostgreSQL's logical replication protocol (pgoutput, protocol versions 1 and 2),
 * as documented in "Logical Replication Message Formats", and the walsender's copy-both frames.
 * Pure data: no Buffers escape this layer except raw binary tuple values.
 */

/** One column value of a TupleData: 'n' null, 'u' unchanged TOAST, 't' text, 'b' binary. */
export type TupleValue = { kind: 'null' } | { kind: 'unchanged' } | { kind: 'text'; value: string } | { kind: 'binary'; value: Buffer };
export type Tuple = readonly TupleValue[];

export interface RelationColumn {
  /** Part of the replica identity (primary key, index identity, or every column with REPLICA IDENTITY FULL). */
  isKey: boolean;
  name: string;
  typeOid: number;
  typeMod: number;
}

/** Replica identity setting: 'd' default (PK), 'n' nothing, 'f' full, 'i' index. */
export type ReplicaIdentity = 'd' | 'n' | 'f' | 'i';

export type PgOutputMessage =
  | { tag: 'begin'; finalLsn: Lsn; commitTime: bigint; xid: number }
  | { tag: 'commit'; flags: number; commitLsn: Lsn; endLsn: Lsn; commitTime: bigint }
  | { tag: 'origin'; originLsn: Lsn; name: string }
  | {
      tag: 'relation';
      /** Set only inside a streamed transaction (protocol v2). */
      xid?: number;
      relationId: number;
      schema: string;
      name: string;
      replicaIdentity: ReplicaIdentity;
      columns: RelationColumn[];
    }
  | { tag: 'type'; xid?: number; typeOid: number; schema: string; name: string }
  | { tag: 'insert'; xid?: number; relationId: number; newTuple: Tuple }
  | {
      tag: 'update';
      xid?: number;
      relationId: number;
      /** 'K': old key columns only (identity changed); 'O': full old row (REPLICA IDENTITY FULL). */
      oldKind?: 'K' | 'O';
      oldTuple?: Tuple;
      newTuple: Tuple;
    }
  | { tag: 'delete'; xid?: number; relationId: number; oldKind: 'K' | 'O'; oldTuple: Tuple }
  | { tag: 'truncate'; xid?: number; cascade: boolean; restartIdentity: boolean; relationIds: number[] }
  | { tag: 'message'; xid?: number; transactional: boolean; lsn: Lsn; prefix: string; content: Buffer }
  | { tag: 'stream_start'; xid: number; firstSegment: boolean }
  | { tag: 'stream_stop' }
  | { tag: 'stream_commit'; xid: number; flags: number; commitLsn: Lsn; endLsn: Lsn; commitTime: bigint }
  | { tag: 'stream_abort'; xid: number; subXid: number };

/** Frames inside CopyData on a replication connection (server → client). */
export type WalSenderFrame =
  | { tag: 'xlogdata'; dataStart: Lsn; walEnd: Lsn; sendTime: bigint; data: Buffer }
  | { tag: 'keepalive'; walEnd: Lsn; sendTime: bigint; replyRequested: boolean };

/** Standby status update ('r'), client → server. `now` in microseconds since 2000-01-01. */
export interface StandbyStatus {
  written: Lsn;
  flushed: Lsn;
  applied: Lsn;
  now: bigint;
  replyRequested: boolean;
}
