import type pg from 'pg';
import { ConnectionLostError, IllegalStateError } from '../../core/errors.ts';
import { formatLsn, type Lsn } from '../../core/lsn.ts';
import type { Logger } from '../../core/logger.ts';
import { classifyPgError } from './errors.ts';
import { decodeWalSenderFrame, encodeStandbyStatus, pgNowMicros, PgOutputDecoder, type PgOutputMessage } from './protocol/index.ts';

export interface StreamedMessage {
  /** Start of the WAL data this message came from (0/0 for some messages: never use it as a position). */
  dataStart: Lsn;
  walEnd: Lsn;
  message: PgOutputMessage;
}

export type StreamItem = StreamedMessage | { keepalive: true; walEnd: Lsn };

export interface StartOptions {
  slot: string;
  startLsn: Lsn;
  publications: readonly string[];
  protoVersion?: 1 | 2;
  /** Logical messages (pg_logical_emit_message) in the stream: heartbeats and DDL markers. */
  messages?: boolean;
  /** Status to the server at least this often (must be well under wal_sender_timeout). */
  statusIntervalMs?: number;
  /** Pause reading from the socket when this many items wait unconsumed. */
  highWater?: number;
}

/** What the server may forget: everything up to `flushed` is durable downstream. */
export type StatusSource = () => { written: Lsn; flushed: Lsn };

interface Waiter {
  resolve(item: StreamItem | undefined): void;
  reject(err: Error): void;
}

/**
 * One logical replication connection in copy-both mode: START_REPLICATION, decode of every frame, standby
 * status updates (on request and on a timer), and backpressure by pausing the socket. States: idle →
 * streaming → closed. A server close after close() is expected; before it, iteration fails with a retriable
 * ConnectionLostError.
 */
export class ReplicationStream {
  #state: 'idle' | 'streaming' | 'closed' = 'idle';
  #queue: StreamItem[] = [];
  /** Index of the next item to hand out: shift() on a long array is O(n). */
  #head = 0;
  #waiters: Waiter[] = [];
  #failure: Error | undefined;
  #ended = false;
  #paused = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #decoder = new PgOutputDecoder();
  #highWater = 20_000;

  constructor(
    private readonly client: pg.Client,
    private readonly status: StatusSource,
    private readonly log: Logger,
  ) {}

  start(o: StartOptions): void {
    if (this.#state !== 'idle') throw new IllegalStateError(`replication stream is ${this.#state}`);
    this.#state = 'streaming';
    this.#highWater = o.highWater ?? 20_000;
    const pubs = o.publications.map((p) => p.replace(/'/g, "''")).join(',');
    const opts = [`proto_version '${o.protoVersion ?? 1}'`, `publication_names '${pubs}'`];
    if (o.messages ?? true) opts.push(`messages 'true'`);
    const sql = `START_REPLICATION SLOT "${o.slot.replace(/"/g, '""')}" LOGICAL ${formatLsn(o.startLsn)} (${opts.join(', ')})`;
    this.log.info('replication starting', { slot: o.slot, lsn: formatLsn(o.startLsn) });
    const self = this;
    // A pg "submittable": the client routes the copy-both traffic of this query to these handlers.
    const submittable = {
      submit(connection: { query(text: string): void }) {
        connection.query(sql);
      },
      handleCopyData(msg: { chunk: Buffer }) {
        self.#onCopyData(msg.chunk);
      },
      handleError(err: Error) {
        self.#fail(classifyPgError(err));
      },
      handleReadyForQuery() {
        self.#end();
      },
      handleCommandComplete() {},
      handleRowDescription() {},
      handleDataRow() {},
      handleEmptyQuery() {},
      handlePortalSuspended() {},
      handleCopyInResponse() {},
    };
    void this.client.query(submittable as unknown as pg.QueryConfig).catch?.((err: unknown) => this.#fail(classifyPgError(err)));
    this.client.on('end', () => this.#end());
    this.client.on('error', (err: Error) => this.#fail(classifyPgError(err)));
    this.#timer = setInterval(() => this.sendStatus(false), o.statusIntervalMs ?? 10_000);
    this.#timer.unref();
  }

  /** Sends the current written/flushed position to the server. */
  sendStatus(replyRequested: boolean): void {
    if (this.#state !== 'streaming') return;
    const s = this.status();
    const buf = encodeStandbyStatus({ written: s.written, flushed: s.flushed, applied: s.flushed, now: pgNowMicros(), replyRequested });
    (this.client as unknown as { connection: { sendCopyFromChunk(b: Buffer): void } }).connection.sendCopyFromChunk(buf);
  }

  #onCopyData(chunk: Buffer): void {
    try {
      const frame = decodeWalSenderFrame(chunk);
      if (frame.tag === 'keepalive') {
        if (frame.replyRequested) this.sendStatus(false);
        this.#push({ keepalive: true, walEnd: frame.walEnd });
        return;
      }
      this.#push({ dataStart: frame.dataStart, walEnd: frame.walEnd, message: this.#decoder.decode(frame.data) });
    } catch (err) {
      this.#fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #push(item: StreamItem): void {
    const w = this.#waiters.shift();
    if (w) return w.resolve(item);
    this.#queue.push(item);
    if (!this.#paused && this.#queue.length - this.#head >= this.#highWater) {
      this.#paused = true;
      this.#socket()?.pause();
    }
  }

  #socket(): { pause(): void; resume(): void } | undefined {
    return (this.client as unknown as { connection?: { stream?: { pause(): void; resume(): void } } }).connection?.stream;
  }

  #fail(err: Error): void {
    if (this.#state === 'closed' || this.#failure) return;
    this.#failure = err;
    this.#flushWaiters();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#state !== 'closed' && !this.#failure) this.#failure = new ConnectionLostError('replication connection closed by the server');
    this.#flushWaiters();
  }

  #flushWaiters(): void {
    for (const w of this.#waiters.splice(0)) {
      if (this.#failure && this.#state !== 'closed') w.reject(this.#failure);
      else w.resolve(undefined);
    }
  }

  /**
   * Up to `max` items that are already there, or, when none are, the first to arrive within `timeoutMs`
   * (an empty list when none did). Draining in batches lets the caller flush once per batch.
   */
  async nextBatch(timeoutMs: number, max = 10_000): Promise<StreamItem[]> {
    if (this.#queue.length - this.#head > 0) return this.#take(max);
    if (this.#failure && this.#state !== 'closed') throw this.#failure;
    if (this.#state === 'closed') return [];
    const first = await new Promise<StreamItem | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve(undefined);
      }, timeoutMs);
      const waiter: Waiter = {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.#waiters.push(waiter);
    });
    return first ? [first, ...this.#take(max - 1)] : [];
  }

  #take(max: number): StreamItem[] {
    const end = Math.min(this.#queue.length, this.#head + max);
    const out = this.#queue.slice(this.#head, end);
    this.#head = end;
    if (this.#head >= this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 50_000) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.#paused && this.#queue.length - this.#head < this.#highWater / 2) {
      this.#paused = false;
      this.#socket()?.resume();
    }
    return out;
  }

  get pending(): number {
    return this.#queue.length - this.#head;
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#timer) clearInterval(this.#timer);
    this.#flushWaiters();
    await this.client.end().catch(() => {});
  }
}
