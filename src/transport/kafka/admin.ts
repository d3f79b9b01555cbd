import type { Kafka } from 'kafkajs';
import { DcsyncError } from '../../core/errors.ts';
import { delay } from '../../core/time.ts';
import { wrapKafkaError } from './errors.ts';

export interface TopicSpec {
  topic: string;
  partitions: number;
  configs: Record<string, string>;
}

/** Creates the topics that do not exist, with one admin connection; an existing topic with another partition count is an error. */
export async function ensureTopics(kafka: Kafka, specs: readonly TopicSpec[]): Promise<void> {
  const admin = kafka.admin();
  let doing = 'listing topics';
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.topic));
    const present = specs.filter((s) => existing.has(s.topic));
    if (missing.length > 0) {
      doing = `creating topic${missing.length > 1 ? 's' : ''} ${missing.map((s) => `'${s.topic}'`).join(', ')}`;
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.topic,
          numPartitions: s.partitions,
          replicationFactor: -1,
          configEntries: Object.entries({ 'max.message.bytes': String(16 * 1024 * 1024), ...s.configs }).map(([name, value]) => ({ name, value })),
        })),
      });
    }
    if (present.length === 0) return;
    doing = 'reading topic metadata';
    const meta = await admin.fetchTopicMetadata({ topics: present.map((s) => s.topic) });
    for (const s of present) {
      const n = meta.topics.find((t) => t.name === s.topic)?.partitions.length ?? 0;
      if (n !== s.partitions)
        throw new DcsyncError(`topic '${s.topic}' exists with ${n} partitions but this sync uses ${s.partitions}; delete the topic or use the same --mq.partitions`);
    }
  } catch (err) {
    throw wrapKafkaError(err, doing);
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
