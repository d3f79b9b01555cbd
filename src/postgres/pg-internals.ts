/**
 * Every use of node-postgres internals in dcsync, and the versions they were written for (checked as this module
 * loads, so that an upgrade fails at start with a message, not in the middle of a stream):
 *
 * - pg's Client hands a submitted query its Connection (`submit(connection)`) and routes the server's messages to
 *   the query's `handle…` methods; the Connection writes with `sendCopyFromChunk` and reads `stream` (the socket),
 *   whose 'data' listeners are pg's parser.
 * - pg-copy-streams' CopyToStream ends its stream at CopyDone and leaves `handleReadyForQuery` empty; pg calls it
 *   once the session takes queries again.
 */
import type pg from 'pg';
import type { CopyToStreamQuery } from 'pg-copy-streams';
import pgPackage from 'pg/package.json' with { type: 'json' };
import pgCopyStreamsPackage from 'pg-copy-streams/package.json' with { type: 'json' };
import { checkWrittenFor, type WrittenFor } from '../core/written-for.ts';
import { CopyFramer } from './protocol/index.ts';

const MODULE = 'src/postgres/pg-internals.ts';
export const PG_WRITTEN_FOR: WrittenFor = { package: 'pg', from: '8.23.1', below: '8.24.0', module: MODULE };
export const PG_COPY_STREAMS_WRITTEN_FOR: WrittenFor = { package: 'pg-copy-streams', from: '7.0.0', below: '7.1.0', module: MODULE };

checkWrittenFor(pgPackage.version, PG_WRITTEN_FOR);
checkWrittenFor(pgCopyStreamsPackage.version, PG_COPY_STREAMS_WRITTEN_FOR);

const READY_FOR_QUERY = 0x5a; /* Z */

/** The part of pg's Connection that a submitted query is given. */
interface SubmittedConnection {
  query(text: string): void;
  stream: NodeJS.ReadableStream;
}

/** The part of pg's Connection used while a copy-both query runs. */
interface CopyConnection {
  sendCopyFromChunk(b: Buffer): void;
  stream?: { pause(): void; resume(): void };
}

/** Where a copy-both query's traffic goes; called synchronously as the socket is read. */
export interface CopyBothHandlers {
  /** One CopyData message's payload, `buf[start, end)`: valid only during the call. */
  copyData(buf: Buffer, start: number, end: number): void;
  /** The bytes on the socket are not PostgreSQL messages. */
  framingError(err: Error): void;
  /** pg reported an error for the query or the connection (unclassified). */
  queryError(err: unknown): void;
  /** The query ended and the session takes queries again. */
  readyForQuery(): void;
}

/** The running copy-both query, as its owner drives it. */
export interface CopyBothChannel {
  /** Sends one CopyData message to the server. */
  sendCopyData(buf: Buffer): void;
  /** Stops reading the socket; bytes already read are still handed over. */
  pause(): void;
  resume(): void;
}

/**
 * Runs `sql` (START_REPLICATION) on `client` and reads the socket itself while the copy-both phase lasts: CopyData
 * messages go straight to `h.copyData` (no message object, slice or event each), every other message to pg's
 * parser, which is given the socket back after ReadyForQuery. The socket is taken over as the query is submitted:
 * the server has sent nothing since the last ReadyForQuery, so pg's parser holds no bytes of a message.
 */
export function startCopyBoth(client: pg.Client, sql: string, h: CopyBothHandlers): CopyBothChannel {
  // A pg "submittable": the client routes the copy-both traffic of this query to these handlers.
  const submittable = {
    submit(connection: SubmittedConnection) {
      takeOverSocket(connection.stream, h);
      connection.query(sql);
    },
    handleError(err: Error) {
      h.queryError(err);
    },
    handleReadyForQuery() {
      h.readyForQuery();
    },
    handleCommandComplete() {},
    handleRowDescription() {},
    handleDataRow() {},
    handleEmptyQuery() {},
    handlePortalSuspended() {},
    handleCopyInResponse() {},
  };
  void client.query(submittable as unknown as pg.QueryConfig).catch?.((err: unknown) => h.queryError(err));
  // Looked up at each call: pg's Client owns its connection.
  const connection = (): CopyConnection | undefined => (client as unknown as { connection?: CopyConnection }).connection;
  return {
    sendCopyData(buf) {
      (connection() as CopyConnection).sendCopyFromChunk(buf);
    },
    pause() {
      connection()?.stream?.pause();
    },
    resume() {
      connection()?.stream?.resume();
    },
  };
}

function takeOverSocket(stream: NodeJS.ReadableStream, h: CopyBothHandlers): void {
  const driver = stream.listeners('data') as ((chunk: Buffer) => void)[];
  const giveBack = (): void => {
    stream.removeListener('data', onData);
    for (const l of driver) stream.on('data', l);
  };
  const framer = new CopyFramer(
    (buf, start, end) => h.copyData(buf, start, end),
    (message) => {
      for (const l of driver) l.call(stream, message);
      if (message[0] === READY_FOR_QUERY) giveBack();
    },
  );
  const onData = (chunk: Buffer): void => {
    try {
      framer.push(chunk);
    } catch (err) {
      h.framingError(err as Error);
    }
  };
  for (const l of driver) stream.removeListener('data', l);
  stream.on('data', onData);
}

/**
 * Resolves once the session that runs `copy` takes queries again (ReadyForQuery after CopyDone): the stream ends
 * at CopyDone, before that. Call before submitting the query.
 */
export function readyForQueryAfter(copy: CopyToStreamQuery): Promise<void> {
  return new Promise<void>((resolve) => {
    (copy as unknown as { handleReadyForQuery(): void }).handleReadyForQuery = resolve;
  });
}
