import { Partitioners, type Kafka, type Producer, type TopicMessages } from 'kafkajs';
import { IllegalStateError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { AbortedError } from '../../core/time.ts';
import type { ChangeSink } from '../sink.ts';
import type { KafkaRecord } from '../record-format/index.ts';
import { MAC_HEADER, macHeader, type RecordKey } from '../record-auth.ts';
import { SEQUENCE_HEADER } from '../record-sequence.ts';
import { wrapKafkaError } from './errors.ts';

export interface KafkaSinkOptions {
  /** Stop accepting records (waitForRoom blocks) above this many bytes waiting. */
  maxPendingBytes?: number;
  /** At most this many bytes in one produce request. */
  maxRequestBytes?: number;
  compression?: 'none' | 'gzip';
  /**
   * Topics whose records are numbered (record-sequence.ts): each record carries the offset it takes in its partition.
   * This sink must be their only producer.
   */
  numbered?: readonly string[];
  /** Signs every record with this sync run's key (record-auth.ts). */
  recordKey?: RecordKey;
}

interface Pending {
  seq: number;
  topic: string;
  partition: number;
  record: KafkaRecord;
  bytes: number;
}

/**
 * An ordered outbox in front of one idempotent kafkajs producer (acks=all). One produce request is in flight
 * at a time: what arrives meanwhile forms the next, larger request (natural batching), and the order of
 * records per partition is the order of enqueue. A send that fails after kafkajs's own retries fails the sink:
 * the owner restarts from its last durable position.
 */
export class KafkaSink implements ChangeSink {
  #queue: Pending[] = [];
  #pendingBytes = 0;
  #seq = 0;
  #acked = 0;
  #sending = false;
  /** Settles when the current pump (the request in flight) ends. */
  #pumping: Promise<void> = Promise.resolve();
  #failure: Error | undefined;
  #closed = false;
  #listeners: ((acked: number) => void)[] = [];
  #roomWaiters: (() => void)[] = [];
  #ackWaiters: (() => void)[] = [];
  readonly #maxPendingBytes: number;
  readonly #stats = { requests: 0, records: 0, bytes: 0, sendMs: 0, since: Date.now() };
  readonly #maxRequestBytes: number;
  /** Per numbered topic, the offset the next record of each partition takes. */
  readonly #next: ReadonlyMap<string, bigint[]>;

  private constructor(
    private readonly producer: Producer,
    private readonly log: Logger,
    private readonly opts: KafkaSinkOptions,
    next: ReadonlyMap<string, bigint[]>,
  ) {
    this.#next = next;
    this.#maxPendingBytes = opts.maxPendingBytes ?? 64 * 1024 * 1024;
    this.#maxRequestBytes = opts.maxRequestBytes ?? 4 * 1024 * 1024;
  }

  static async connect(kafka: Kafka, log: Logger, opts: KafkaSinkOptions = {}): Promise<KafkaSink> {
    // Partitions are always chosen by dcsync; the partitioner is named only to keep kafkajs from warning about its default.
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    try {
      await producer.connect();
    } catch (err) {
      throw wrapKafkaError(err, 'connecting the producer');
    }
    try {
      return new KafkaSink(producer, log, opts, await endOffsets(kafka, opts.numbered ?? []));
    } catch (err) {
      await producer.disconnect().catch(() => {});
      throw err;
    }
  }

  /** The offset the next record of a numbered topic's partition takes (undefined: not numbered). */
  nextNumber(topic: string, partition: number): bigint | undefined {
    return this.#next.get(topic)?.[partition];
  }

  get acked(): number {
    return this.#acked;
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  get lastEnqueued(): number {
    return this.#seq;
  }

  onAcked(listener: (acked: number) => void): void {
    this.#listeners.push(listener);
  }

  enqueue(topic: string, partition: number, record: KafkaRecord): number {
    if (this.#closed) throw new IllegalStateError('sink is closed');
    if (this.#failure) throw this.#failure;
    const bytes = record.value.length + (record.key?.length ?? 0) + 64;
    const numbers = this.#next.get(topic);
    if (numbers) {
      const n = numbers[partition];
      if (n === undefined) throw new IllegalStateError(`topic '${topic}' has no partition ${partition}`);
      record = { ...record, headers: { ...record.headers, [SEQUENCE_HEADER]: n.toString() } };
      numbers[partition] = n + 1n;
    }
    const k = this.opts.recordKey;
    if (k) record = { ...record, headers: { ...record.headers, [MAC_HEADER]: macHeader(k, { partition, key: record.key, headers: record.headers, value: record.value }) } };
    const seq = ++this.#seq;
    this.#queue.push({ seq, topic, partition, record, bytes });
    this.#pendingBytes += bytes;
    if (!this.#sending) this.#pumping = this.#pump();
    return seq;
  }

  async waitForRoom(signal?: AbortSignal): Promise<void> {
    while (this.#pendingBytes > this.#maxPendingBytes) {
      if (this.#failure) throw this.#failure;
      if (this.#closed) throw new IllegalStateError('sink is closed');
      if (signal?.aborted) throw new AbortedError();
      await nextWake(this.#roomWaiters, signal);
    }
    if (this.#failure) throw this.#failure;
  }

  async flush(signal?: AbortSignal): Promise<void> {
    const target = this.#seq;
    while (this.#acked < target) {
      if (this.#failure) throw this.#failure;
      if (this.#closed) throw new IllegalStateError('sink is closed');
      if (signal?.aborted) throw new AbortedError();
      await nextWake(this.#ackWaiters, signal);
    }
  }

  async #pump(): Promise<void> {
    this.#sending = true;
    try {
      while (this.#queue.length > 0 && !this.#failure && !this.#closed) {
        let bytes = 0;
        let n = 0;
        while (n < this.#queue.length && (n === 0 || bytes + this.#queue[n]!.bytes <= this.#maxRequestBytes)) bytes += this.#queue[n++]!.bytes;
        const batch = this.#queue.slice(0, n);
        const byTopic = new Map<string, TopicMessages>();
        for (const p of batch) {
          let tm = byTopic.get(p.topic);
          if (!tm) byTopic.set(p.topic, (tm = { topic: p.topic, messages: [] }));
          tm.messages.push({ partition: p.partition, key: p.record.key, value: p.record.value, headers: p.record.headers });
        }
        const started = Date.now();
        try {
          await this.producer.sendBatch({ topicMessages: [...byTopic.values()], acks: -1, compression: this.opts.compression === 'gzip' ? 1 : 0 });
          this.#count(n, bytes, Date.now() - started);
        } catch (err) {
          this.#failure = wrapKafkaError(err, 'producing to Kafka');
          // Records not acknowledged before a close are simply not confirmed: the next run sends them again.
          if (this.#closed) this.log.debug('produce ended by close', { error: this.#failure });
          else this.log.error('produce failed', { error: this.#failure });
          break;
        }
        this.#queue.splice(0, n);
        this.#pendingBytes -= bytes;
        this.#acked = batch[batch.length - 1]!.seq;
        for (const l of this.#listeners) l(this.#acked);
        for (const w of this.#roomWaiters.splice(0)) w();
        for (const w of this.#ackWaiters.splice(0)) w();
      }
    } finally {
      this.#sending = false;
      if (this.#failure || this.#closed) {
        for (const w of this.#roomWaiters.splice(0)) w();
        for (const w of this.#ackWaiters.splice(0)) w();
      }
    }
  }

  #count(records: number, bytes: number, ms: number): void {
    const st = this.#stats;
    st.requests++;
    st.records += records;
    st.bytes += bytes;
    st.sendMs += ms;
    const window = Date.now() - st.since;
    if (window >= 2_000) {
      this.log.debug('produced', { requests: st.requests, records: st.records, bytes: st.bytes, busyPct: Math.round((st.sendMs / window) * 100), pendingBytes: this.#pendingBytes });
      Object.assign(st, { requests: 0, records: 0, bytes: 0, sendMs: 0, since: Date.now() });
    }
  }

  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Stops taking records; the request in flight gets up to 5 s to be answered, then the producer disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.race([this.#pumping, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    await this.producer.disconnect().catch((err: unknown) => this.log.warn('producer disconnect failed', { error: err as Error }));
  }
}

/**
 * Each partition's end offset, read once the producer is connected and before it sends anything: with one idempotent,
 * non-transactional producer per topic, the records it sends then take exactly the offsets that follow.
 */
async function endOffsets(kafka: Kafka, topics: readonly string[]): Promise<Map<string, bigint[]>> {
  const out = new Map<string, bigint[]>();
  if (topics.length === 0) return out;
  const admin = kafka.admin();
  try {
    await admin.connect();
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      const ends: bigint[] = [];
      for (const o of offsets) ends[o.partition] = BigInt(o.high);
      out.set(topic, ends);
    }
    return out;
  } catch (err) {
    throw wrapKafkaError(err, `reading the end offsets of ${topics.map((t) => `'${t}'`).join(', ')}`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Until the sink calls the waiters (an ack, room, a failure or a close) or `signal` aborts. */
function nextWake(waiters: (() => void)[], signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const wake = (): void => {
      signal?.removeEventListener('abort', wake);
      resolve();
    };
    waiters.push(wake);
    signal?.addEventListener('abort', wake, { once: true });
  });
}
