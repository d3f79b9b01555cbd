import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from '../../core/logger.ts';
import { createOutcome } from '../../core/outcome.ts';
import { AbortedError } from '../../core/time.ts';
import type { RawHeaders } from '../record-format/index.ts';
import { wrapKafkaError } from './errors.ts';

export interface ConsumedRecord {
  partition: number;
  offset: string;
  key: Buffer | null;
  headers: RawHeaders | undefined;
  value: Buffer | null;
}

export interface ConsumerOptions {
  kafka: Kafka;
  topic: string;
  groupId: string;
  log: Logger;
  /** Where to start reading, per partition (next offset); others start at the beginning. */
  startOffsets?: ReadonlyMap<number, string>;
}

/**
 * A kafkajs consumer tuned for dcsync: no topic auto-creation, large fetches, no offset commits: where to resume
 * is stored in the target with the data, and each start uses a fresh group (no wait for a crashed member's session).
 */
export function createConsumer(o: ConsumerOptions): Consumer {
  return o.kafka.consumer({
    groupId: `${o.groupId}.${randomUUID().slice(0, 8)}`,
    allowAutoTopicCreation: false,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxBytesPerPartition: 4 * 1024 * 1024,
    maxBytes: 16 * 1024 * 1024,
    maxWaitTimeInMs: 200,
    retry: { retries: 10 },
  });
}

export function nextOffset(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}

/**
 * Consumes a topic in order, one batch at a time, until the handler says 'stop', the signal aborts, or the
 * handler fails (then it rejects with that error).
 */
export async function consumeInOrder(
  o: ConsumerOptions,
  handle: (records: ConsumedRecord[]) => Promise<'continue' | 'stop'>,
  signal: AbortSignal,
): Promise<void> {
  const consumer = createConsumer(o);
  const outcome = createOutcome();
  const settle = outcome.settle;
  const onAbort = (): void => settle(new AbortedError());
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: o.topic, fromBeginning: true });
    consumer.on(consumer.events.CRASH, (e) => settle(wrapKafkaError(e.payload.error, `consuming '${o.topic}'`)));
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, pause }) => {
        if (outcome.settled) {
          pause();
          return;
        }
        const records: ConsumedRecord[] = batch.messages.map((m) => ({ partition: batch.partition, offset: m.offset, key: m.key, headers: m.headers as RawHeaders | undefined, value: m.value }));
        if (records.length === 0) return;
        try {
          const verdict = await handle(records);
          const last = records[records.length - 1]!.offset;
          resolveOffset(last);
          if (verdict === 'stop') {
            pause();
            settle();
          }
        } catch (err) {
          pause();
          settle(err);
        }
      },
    });
    for (const [partition, offset] of o.startOffsets ?? []) consumer.seek({ topic: o.topic, partition, offset });
    await outcome.promise;
  } catch (err) {
    settle(err);
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    await consumer.disconnect().catch((err: unknown) => o.log.warn('consumer disconnect failed', { error: err as Error }));
  }
}
