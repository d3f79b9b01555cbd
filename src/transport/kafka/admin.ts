import type { Kafka } from 'kafkajs';
import { DcsyncError } from '../../core/errors.ts';
import { delay } from '../../core/time.ts';
import { wrapKafkaError } from './errors.ts';

/** Creates the topic if it does not exist; an existing topic with another partition count is an error. */
export async function ensureTopic(kafka: Kafka, topic: string, partitions: number, configs: Record<string, string>): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: partitions,
            replicationFactor: -1,
            configEntries: Object.entries({ 'max.message.bytes': String(16 * 1024 * 1024), ...configs }).map(([name, value]) => ({ name, value })),
          },
        ],
      });
      return;
    }
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const n = meta.topics[0]?.partitions.length ?? 0;
    if (n !== partitions)
      throw new DcsyncError(`topic '${topic}' exists with ${n} partitions but this sync uses ${partitions}; delete the topic or use the same --mq.partitions`);
  } catch (err) {
    throw wrapKafkaError(err, `creating topic '${topic}'`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Topic names on this Kafka matching `filter`. */
export async function listTopics(kafka: Kafka, filter: (name: string) => boolean): Promise<string[]> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    return (await admin.listTopics()).filter(filter);
  } catch (err) {
    throw wrapKafkaError(err, 'listing topics');
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Waits until the topic exists with its partitions led (MirrorMaker creates remote topics lazily). */
export async function waitForTopic(kafka: Kafka, topic: string, signal: AbortSignal, pollMs = 1000): Promise<number> {
  for (;;) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      if ((await admin.listTopics()).includes(topic)) {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] });
        const parts = meta.topics[0]?.partitions ?? [];
        if (parts.length > 0 && parts.every((p) => p.leader >= 0)) return parts.length;
      }
    } catch {
      // not there yet, or the broker is restarting: try again
    } finally {
      await admin.disconnect().catch(() => {});
    }
    await delay(pollMs, signal);
  }
}
