import type pg from 'pg';
import { ConnectionLostError, IllegalStateError, ProtocolError } from '../core/errors.ts';
import { formatLsn, ZERO_LSN, type Lsn } from '../core/lsn.ts';
import type { Logger } from '../core/logger.ts';
import { classifyPgError } from '../postgres/errors.ts';
import { startCopyBoth, type CopyBothChannel } from '../postgres/pg-internals.ts';
import { decodeWalSenderFrame, encodeStandbyStatus, pgNowMicros, xlogDataAt, type XLogData } from '../postgres/protocol/index.ts';

/**
 * Receives the stream's frames as the connection parses them, synchronously. A message is handed over where it lies
 * in the connection's read buffer, valid only during the call: copy what must outlive it. A throw fails the stream.
 */
export interface StreamConsumer {
  /** One pgoutput message and the walEnd of its XLogData frame (both readable only during the call). */
  message(x: XLogData): void;
  keepalive(walEnd: Lsn): void;
}

export interface StartOptions {
  slot: string;
  startLsn: Lsn;
  publications: readonly string[];
  protoVersion?: 1 | 2;
  /** Logical messages (pg_logical_emit_message) in the stream: heartbeats and DDL markers. */
  messages?: boolean;
  /** Status to the server at least this often (must be well under wal_sender_timeout). */
  statusIntervalMs?: number;
}

/**
 * One logical replication connection in copy-both mode: START_REPLICATION, each frame handed to the consumer as
 * it is parsed (no queue: the consumer copies what it keeps), standby status updates (on request and on a timer),
 * and flow control by pausing the socket. States: idle → streaming → closed. A server close after close() is
 * expected; before it, waiting fails with a retriable ConnectionLostError.
 *
 * The status updates carry what the owner reported: `received` as the write position, `acknowledge` as the flush
 * (and apply) position, which the server may forget. The stream never moves either on its own.
 */
export class ReplicationStream {
  #state: 'idle' | 'streaming' | 'closed' = 'idle';
  #consumer: StreamConsumer | undefined;
  #channel: CopyBothChannel | undefined;
  /** Frames handed to the consumer since the last waitForFrames. */
  #frames = 0;
  #waiter: (() => void) | undefined;
  #failure: Error | undefined;
  #ended = false;
  #paused = false;
  #timer: NodeJS.Timeout | undefined;
  #written: Lsn = ZERO_LSN;
  #flushed: Lsn = ZERO_LSN;

  constructor(
    private readonly client: pg.Client,
    private readonly log: Logger,
  ) {}

  /** Everything up to `lsn` has been read: the write position of the next status updates. Never moves back. */
  received(lsn: Lsn): void {
    if (lsn > this.#written) this.#written = lsn;
  }

  /**
   * Everything up to `lsn` is durable downstream: the flush position of the next status updates, which lets the
   * server forget it (the slot restarts after it). Never moves back.
   */
  acknowledge(lsn: Lsn): void {
    if (lsn > this.#flushed) this.#flushed = lsn;
  }

  start(o: StartOptions, consumer: StreamConsumer): void {
    if (this.#state !== 'idle') throw new IllegalStateError(`replication stream is ${this.#state}`);
    this.#state = 'streaming';
    this.#consumer = consumer;
    const pubs = o.publications.map((p) => p.replace(/'/g, "''")).join(',');
    const opts = [`proto_version '${o.protoVersion ?? 1}'`, `publication_names '${pubs}'`];
    if (o.messages ?? true) opts.push(`messages 'true'`);
    const sql = `START_REPLICATION SLOT "${o.slot.replace(/"/g, '""')}" LOGICAL ${formatLsn(o.startLsn)} (${opts.join(', ')})`;
    this.log.info('replication starting', { slot: o.slot, lsn: formatLsn(o.startLsn) });
    this.#channel = startCopyBoth(this.client, sql, {
      copyData: (buf, start, end) => this.#onCopyData(buf, start, end),
      framingError: (err) => this.#fail(new ProtocolError(`replication stream: ${err.message}`)),
      queryError: (err) => this.#fail(classifyPgError(err)),
      readyForQuery: () => this.#end(),
    });
    this.client.on('end', () => this.#end());
    this.client.on('error', (err: Error) => this.#fail(classifyPgError(err)));
    this.#timer = setInterval(() => this.sendStatus(false), o.statusIntervalMs ?? 10_000);
    this.#timer.unref();
  }

  /** Sends the received and acknowledged positions to the server. */
  sendStatus(replyRequested: boolean): void {
    if (this.#state !== 'streaming') return;
    const buf = encodeStandbyStatus({ written: this.#written, flushed: this.#flushed, applied: this.#flushed, now: pgNowMicros(), replyRequested });
    this.#channel!.sendCopyData(buf);
  }

  #onCopyData(buf: Buffer, start: number, end: number): void {
    if (this.#failure || this.#state !== 'streaming') return;
    const consumer = this.#consumer!;
    try {
      const x = xlogDataAt(buf, start, end);
      if (x) consumer.message(x);
      else {
        // Not a well-formed XLogData frame: a keepalive, or decoding throws a ProtocolError naming the problem.
        const frame = decodeWalSenderFrame(buf.subarray(start, end));
        if (frame.tag !== 'keepalive') throw new ProtocolError(`walsender frame '${frame.tag}' not taken by xlogDataAt`);
        if (frame.replyRequested) this.sendStatus(false);
        consumer.keepalive(frame.walEnd);
      }
      this.#frames++;
      this.#wake();
    } catch (err) {
      this.#fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Stops reading from the socket (frames already read are still handed over); `resume` reads again. */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#channel?.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#channel?.resume();
  }

  #fail(err: Error): void {
    if (this.#state === 'closed' || this.#failure) return;
    this.#failure = err;
    this.#channel?.pause();
    this.#wake();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#state !== 'closed' && !this.#failure) this.#failure = new ConnectionLostError('replication connection closed by the server');
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  /**
   * How many frames the consumer was handed since the last call: at once when there were any, else after the
   * first one arrives or `timeoutMs` passes (0). Throws the stream's failure; 0 once closed.
   */
  async waitForFrames(timeoutMs: number): Promise<number> {
    if (this.#frames === 0 && !this.#failure && this.#state === 'streaming') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          if (this.#waiter === done) this.#waiter = undefined;
          resolve();
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        this.#waiter = done;
      });
    }
    if (this.#failure && this.#state !== 'closed') throw this.#failure;
    const n = this.#frames;
    this.#frames = 0;
    return n;
  }

  /**
   * Ends the stream. Unless the server already ended it, a last status confirms what is durable downstream first:
   * the slot then keeps nothing that the next start would stream again (the status timer alone leaves up to its
   * interval unconfirmed, and all of it when the stream lived shorter than that).
   */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    if (this.#state === 'streaming' && !this.#ended) {
      try {
        this.sendStatus(false);
      } catch (err) {
        this.log.debug('last status not sent', { error: err as Error });
      }
    }
    this.#state = 'closed';
    if (this.#timer) clearInterval(this.#timer);
    this.#wake();
    await this.client.end().catch(() => {});
  }
}
