import type { KafkaRecord } from './record-format/index.ts';

/**
 * Where the source pipeline puts records. `enqueue` returns a sequence number; `acked` only moves past a
 * sequence number once the record and every record enqueued before it are durable (acks=all). Records of one
 * (topic, partition) arrive in enqueue order, exactly once when the transport is idempotent.
 */
export interface ChangeSink {
  enqueue(topic: string, partition: number, record: KafkaRecord): number;
  /** Resolves when there is room again (bounded memory); rejects when the sink failed. */
  waitForRoom(signal?: AbortSignal): Promise<void>;
  /** The sequence number of the last record enqueued (0: none). */
  readonly lastEnqueued: number;
  /** The highest sequence number up to which everything is durable (0: none). */
  readonly acked: number;
  /** Called after `acked` moved. */
  onAcked(listener: (acked: number) => void): void;
  /** Resolves when everything enqueued so far is durable; rejects with AbortedError as soon as `signal` aborts. */
  flush(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}
