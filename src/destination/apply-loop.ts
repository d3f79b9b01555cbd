import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import type { Logger } from '../core/logger.ts';
import { createOutcome } from '../core/outcome.ts';
import { AbortedError, delay } from '../core/time.ts';
import { TargetCatalog } from './apply/index.ts';
import type { Position } from '../model/position.ts';
import { connect } from '../postgres/connection.ts';
import { createConsumer } from '../transport/kafka/kafka-source.ts';
import { wrapKafkaError } from '../transport/kafka/errors.ts';
import { CheckCutHolder } from '../check/check-points.ts';
import type { RecordKey } from '../transport/record-auth.ts';
import { CHAIN_START, RecordChain } from '../transport/record-sequence.ts';
import { BarrierGate } from './apply-loop/barrier-gate.ts';
import { itemsOf } from './apply-loop/offsets.ts';
import { PartitionApplier } from './apply-loop/partition-applier.ts';
import { PartitionSession } from './apply-loop/partition-session.ts';
import { TableFilter } from './apply-loop/table-filter.ts';
import { BARRIER_PARTITION, type TargetState } from './target-state.ts';

export type ApplyMode = 'parallel' | 'transactional';

export interface ApplyLoopOptions {
  kafka: Kafka;
  topic: string;
  groupId: string;
  partitions: number;
  targetUrl: string;
  database: string;
  state: TargetState;
  mode: ApplyMode;
  /** The sync run's record key: every record must verify under it (record-auth.ts). */
  recordKey?: RecordKey;
  log: Logger;
  /** Called after each applied batch (for status and metrics). */
  onApplied?: (p: { partition: number; position: Position; commitTimeUs: bigint; changes: number }) => void;
}

/**
 * The destination's apply loop: consumes the changes topic (all partitions, in parallel) and applies each
 * partition's records in target transactions that also store the partition's position, skipping whatever is at
 * or below it (apply-loop/partition-applier.ts). Barriers (truncates, key moves, a table's failure) are applied
 * once every partition reached them (apply-loop/barrier-gate.ts). In transactional mode (one partition) a target
 * transaction ends only at a source transaction's end.
 */
export async function runApplyLoop(o: ApplyLoopOptions, signal: AbortSignal): Promise<void> {
  const log = o.log.child({ component: 'apply', database: o.database, topic: o.topic });
  const meta = await connect({ url: o.targetUrl, database: o.database, applicationName: 'dcsync-apply' });
  const consumer = createConsumer({ kafka: o.kafka, topic: o.topic, groupId: o.groupId, log });
  let start: Awaited<ReturnType<typeof readStart>>;
  try {
    start = await readStart(o, meta, log);
  } catch (err) {
    await meta.end().catch(() => {});
    throw err;
  }
  const { positions, filter } = start;
  const gate = new BarrierGate(o.partitions, positions.get(BARRIER_PARTITION));
  const catalog = new TargetCatalog();
  const sessions = new Map<number, PartitionSession>();
  const appliers = new Map<number, PartitionApplier>();
  const checkCuts = new CheckCutHolder({ url: o.targetUrl, database: o.database, log });
  const chains = new Map<number, RecordChain>();
  const chainOf = (p: number): RecordChain => {
    let c = chains.get(p);
    if (!c) {
      const resume = positions.get(p)?.resume;
      chains.set(p, (c = new RecordChain({ database: o.database, topic: o.topic, partition: p }, resume ? resume.mark : CHAIN_START, resume?.offset ?? null)));
    }
    return c;
  };
  const transactional = o.mode === 'transactional' && o.partitions === 1;
  const applierOf = async (p: number): Promise<PartitionApplier> => {
    let a = appliers.get(p);
    if (!a) {
      const target = await PartitionSession.connect({ url: o.targetUrl, database: o.database, partition: p, state: o.state, catalog, filter, applied: positions.get(p), onApplied: o.onApplied });
      sessions.set(p, target);
      const resume = (partitions: number[]): void => consumer.resume([{ topic: o.topic, partitions }]);
      appliers.set(p, (a = new PartitionApplier({ partition: p, partitions: o.partitions, transactional, target, gate, wanted: (c, pos) => filter.wanted(c, pos), resume, idle: () => delay(100), atCheckCut: (id, pos) => checkCuts.cut(id, pos) })));
    }
    return a;
  };

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
      partitionsConsumedConcurrently: o.partitions,
      eachBatch: async ({ batch, resolveOffset, pause }) => {
        if (outcome.settled) {
          pause();
          return;
        }
        try {
          if (batch.messages.length === 0) return;
          const chain = chainOf(batch.partition);
          const resolve = (offset: string): void => {
            chain.resolved(offset);
            resolveOffset(offset);
          };
          await (await applierOf(batch.partition)).run(itemsOf(chain, batch.messages, { announced: (t) => filter.announced(t), ...(o.recordKey ? { recordKey: o.recordKey } : {}) }), { resolveOffset: resolve, pause });
        } catch (err) {
          pause();
          settle(err);
        }
      },
    });
    for (const [p, pos] of positions) if (p >= 0 && pos.resume) consumer.seek({ topic: o.topic, partition: p, offset: pos.resume.offset });
    log.info('applying changes', { mode: o.mode, partitions: o.partitions });
    await outcome.promise;
  } finally {
    signal.removeEventListener('abort', onAbort);
    await consumer.disconnect().catch(() => {});
    for (const s of sessions.values()) await s.close();
    await checkCuts.close();
    await meta.end().catch(() => {});
  }
}

/** The partitions' applied positions and the tables' states, as the target holds them. */
async function readStart(o: ApplyLoopOptions, meta: pg.Client, log: Logger): Promise<{ positions: Awaited<ReturnType<TargetState['positions']>>; filter: TableFilter }> {
  const tables = await o.state.tables(meta);
  const positions = await o.state.positions(meta);
  return { positions, filter: new TableFilter(tables, log) };
}
