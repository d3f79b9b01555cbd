import type pg from 'pg';
import { IllegalStateError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { AbortedError } from '../core/time.ts';
import { PgOutputTag } from '../postgres/protocol/index.ts';
import type { KafkaSink } from '../transport/kafka/kafka-sink.ts';
import type { ChangeCapture } from './change-capture.ts';
import type { Checkpoint } from './checkpoint.ts';
import type { ReplicationStream, StartOptions } from './replication-stream.ts';
import type { TableWatch } from './table-watch.ts';

export interface StreamLoopOptions {
  readonly stream: ReplicationStream;
  readonly start: StartOptions;
  readonly capture: ChangeCapture;
  readonly checkpoint: Checkpoint;
  /** The changes topic's producer. */
  readonly sink: KafkaSink;
  /** A plain session on the source database: heartbeats go through it. */
  readonly meta: pg.Client;
  readonly watch: TableWatch;
  /** Partitions of the changes topic: a backlog's entries wait for up to COALESCE_ENTRIES per partition. */
  readonly partitions: number;
  /** Without a transaction for this long, a heartbeat message goes into the WAL (so the slot can advance). */
  readonly heartbeatMs: number;
  /** How often the table watch runs. */
  readonly identityCheckMs: number;
  readonly log: Logger;
  /** Settles with the initial copy's failure (undefined when it succeeded); a failure other than a stop ends the loop. */
  readonly copyFailure: Promise<unknown>;
  /** Called at every wake-up of the loop. */
  readonly tick: () => Promise<void>;
}

/**
 * - `idle`: built, not started.
 * - `streaming`: `run` reads the slot and flushes what it captured, until its signal aborts or something fails.
 * - `draining`: asked to stop; `drain` sends what was captured and gives Kafka a few seconds to acknowledge it.
 * - `stopped`: done; the stream stays open for the caller to close (its last status confirms what was acknowledged).
 */
export type StreamLoopState = 'idle' | 'streaming' | 'draining' | 'stopped';

/** On a stop, how long the records already produced may take to be acknowledged before the stream closes. */
const STOP_SETTLE_MS = 5_000;

/** At least this many frames between two wake-ups of the loop means a backlog: see #flushWhenDue. */
const COALESCE_FRAMES = 256;
const COALESCE_MS = 100;
/** Per partition. */
const COALESCE_ENTRIES = 1000;
/** Stop reading from the server while this many entries wait unsent (the loop flushes them first). */
const MAX_PENDING_ENTRIES = 200_000;
/** The producer's backlog above which the loop stops reading from the server until the producer has room. */
const MAX_SINK_PENDING_BYTES = 16 * 1024 * 1024;

/**
 * The source task's streaming phase: frames are captured as they arrive (ChangeCapture copies what it keeps), and
 * this loop decides when to flush them to Kafka, holds the server back while Kafka is behind, writes heartbeats
 * while the database is idle, and runs the table watch.
 */
export class StreamLoop {
  readonly #o: StreamLoopOptions;
  #state: StreamLoopState = 'idle';
  #copyFailure: unknown;
  /** A commit arrived since the last wake-up. */
  #committed = false;
  /** When the last commit arrived (or the stream started). */
  #lastActivity = 0;
  #lastHeartbeat = 0;
  // The first check at once: what changed while the task was stopped stops its table before its changes stream.
  #lastIdentityCheck = 0;
  // While a backlog streams in (full reads), entries wait up to COALESCE_MS to leave in fewer, larger Kafka records:
  // each record costs a Brotli set-up at both ends and per-record work in three JVMs. A trickle (short reads) leaves at once.
  #waitingSince = 0;
  // The first entries leave at once, however few: MirrorMaker and the destination start on them meanwhile.
  #sentAny = false;

  constructor(o: StreamLoopOptions) {
    this.#o = o;
    void o.copyFailure.then((e) => {
      if (e && !(e instanceof AbortedError)) this.#copyFailure = e;
    });
  }

  get state(): StreamLoopState {
    return this.#state;
  }

  /** Streams until `signal` aborts (then resolves) or the copy, the producer or the stream fails (then throws). */
  async run(signal: AbortSignal): Promise<void> {
    this.#to('idle', 'streaming');
    this.#startStream();
    this.#lastActivity = Date.now();
    while (!signal.aborted) {
      if (this.#copyFailure) throw this.#copyFailure;
      if (this.#o.sink.failure) throw this.#o.sink.failure;
      const frames = await this.#o.stream.waitForFrames(this.#o.capture.pending > 0 ? COALESCE_MS : 250);
      const now = Date.now();
      if (this.#committed) {
        this.#lastActivity = now;
        this.#committed = false;
      }
      this.#flushWhenDue(frames, now);
      await this.#o.tick();
      await this.#holdBackForKafka(signal);
      await this.#heartbeatWhenIdle(now);
      await this.#watchTablesWhenDue(now);
    }
  }

  /**
   * After `run` resolved: what was captured goes out, and what Kafka acknowledges within a few seconds is confirmed
   * to the slot as the stream closes, so that the next start does not stream it again.
   */
  async drain(): Promise<void> {
    this.#to('streaming', 'draining');
    const { stream, capture, sink } = this.#o;
    stream.pause();
    if (!sink.failure) {
      capture.flush();
      await sink.flush(AbortSignal.timeout(STOP_SETTLE_MS)).catch(() => {}); // not acknowledged in time: not confirmed
    }
    this.#to('draining', 'stopped');
  }

  #to(from: StreamLoopState, to: StreamLoopState): void {
    if (this.#state !== from) throw new IllegalStateError(`stream loop is ${this.#state}, not ${from}`);
    this.#state = to;
  }

  #startStream(): void {
    const { stream, capture, checkpoint, sink } = this.#o;
    stream.start(this.#o.start, {
      message: (x) => {
        capture.handle(x);
        if (x.buf[x.start] === PgOutputTag.Commit) this.#committed = true;
        if (capture.pending >= MAX_PENDING_ENTRIES) stream.pause();
      },
      keepalive: (walEnd) => {
        capture.flush();
        checkpoint.idle(walEnd, capture.inTransaction, sink.acked === sink.lastEnqueued);
      },
    });
  }

  /** A trickle leaves at once; a backlog waits for a fuller record (see #waitingSince). */
  #flushWhenDue(frames: number, now: number): void {
    const capture = this.#o.capture;
    if (capture.pending > 0 && this.#waitingSince === 0) this.#waitingSince = now;
    const backlog = frames >= COALESCE_FRAMES && capture.pending < COALESCE_ENTRIES * this.#o.partitions && now - this.#waitingSince < COALESCE_MS;
    if (!backlog || !this.#sentAny) {
      this.#sentAny ||= capture.pending > 0;
      capture.flush();
      this.#waitingSince = 0;
    }
  }

  async #holdBackForKafka(signal: AbortSignal): Promise<void> {
    const { stream, capture, sink } = this.#o;
    if (sink.pendingBytes > MAX_SINK_PENDING_BYTES) {
      stream.pause();
      await sink.waitForRoom(signal);
    }
    if (capture.pending < MAX_PENDING_ENTRIES) stream.resume();
  }

  async #heartbeatWhenIdle(now: number): Promise<void> {
    const { heartbeatMs, meta, log } = this.#o;
    if (now - this.#lastActivity <= heartbeatMs || now - this.#lastHeartbeat <= heartbeatMs) return;
    this.#lastHeartbeat = now;
    await meta.query(`SELECT pg_logical_emit_message(false, 'dcsync.heartbeat', '')`).catch((err: unknown) => log.warn('heartbeat failed', { error: err as Error }));
  }

  async #watchTablesWhenDue(now: number): Promise<void> {
    if (now - this.#lastIdentityCheck <= this.#o.identityCheckMs) return;
    this.#lastIdentityCheck = now;
    await this.#o.watch.check();
  }
}
