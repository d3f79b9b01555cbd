import type pg from 'pg';
import type { Kafka } from 'kafkajs';
import type { Logger } from '../core/logger.ts';
import { connect } from '../postgres/connection.ts';
import { consumeInOrder } from '../transport/kafka/kafka-source.ts';
import { waitForTopic } from '../transport/kafka/admin.ts';
import type { RecordKey } from '../transport/record-auth.ts';
import { checkRecordMac } from './record-guard.ts';
import type { TargetState } from './target-state.ts';
import { decodeSequenceRecord, type SequenceSample } from '../transport/sequence-records.ts';

/**
 * Moves the target's sequences forward to the source's sampled values (never back: a replayed or late sample
 * changes nothing). Sequences the target does not have (yet) are skipped; the next sample names them again.
 * Returns how many sequences moved.
 */
export async function applySequences(c: pg.ClientBase, s: SequenceSample): Promise<number> {
  if (s.values.length === 0) return 0;
  const r = await c.query<{ moved: string }>(
    `SELECT count(setval(format('%I.%I', q.schemaname, q.sequencename)::regclass, v.val, true)) AS moved
       FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(sch, nam, val)
       JOIN pg_sequences q ON q.schemaname = v.sch AND q.sequencename = v.nam
      WHERE q.last_value IS NULL OR (q.increment_by > 0 AND q.last_value < v.val) OR (q.increment_by < 0 AND q.last_value > v.val)`,
    [s.values.map((v) => v.schema), s.values.map((v) => v.name), s.values.map((v) => v.lastValue.toString())],
  );
  return Number(r.rows[0]?.moved ?? 0);
}

/** Follows the sequences topic of one database and applies each sample; runs next to the apply loop. */
export async function runSequenceApplier(
  o: { kafka: Kafka; topic: string; groupId: string; targetUrl: string; database: string; state: TargetState; recordKey?: RecordKey; log: Logger },
  signal: AbortSignal,
): Promise<void> {
  await waitForTopic(o.kafka, o.topic, signal);
  const c = await connect({ url: o.targetUrl, database: o.database, applicationName: 'dcsync-destination-sequences' });
  try {
    await consumeInOrder(
      { kafka: o.kafka, topic: o.topic, groupId: o.groupId, log: o.log },
      async (records) => {
        // Every record holds all values: the newest one of the batch is enough.
        const last = records.at(-1);
        if (last?.value) {
          checkRecordMac(o.recordKey, last, { topic: o.topic, partition: last.partition, offset: last.offset });
          const moved = await fenced(c, o.state, () => applySequences(c, decodeSequenceRecord(last.value!)));
          if (moved > 0) o.log.debug('sequences moved forward', { moved });
        }
        return 'continue';
      },
      signal,
    );
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * setval is not transactional: the fence is locked first, so no takeover can come between the check and the
 * values, and a fenced task moves no sequence.
 */
async function fenced<T>(c: pg.ClientBase, state: TargetState, fn: () => Promise<T>): Promise<T> {
  await c.query('BEGIN');
  try {
    await state.checkFence(c);
    const out = await fn();
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
