import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { formatLsn } from '../core/lsn.ts';
import type { Logger } from '../core/logger.ts';
import { createOutcome } from '../core/outcome.ts';
import { AbortedError, delay } from '../core/time.ts';
import { applyChanges, TargetCatalog } from './apply/index.ts';
import { comparePositions, type EncodedChange, qualifiedName, tableKey, type Position, type RowChange, type TableId } from '../model/change.ts';
import { connect } from '../postgres/connection.ts';
import { readChangeBatch } from '../transport/change-batch.ts';
import type { Barrier, ChangeStreamRecord, RawHeaders } from '../transport/records.ts';
import { createConsumer, nextOffset } from '../transport/kafka/kafka-source.ts';
import { wrapKafkaError } from '../transport/kafka/errors.ts';
import { BARRIER_PARTITION, TargetState, type TargetTableState } from './target-state.ts';

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
  log: Logger;
  /** Called after each applied batch (for status and metrics). */
  onApplied?: (p: { partition: number; position: Position; commitTimeUs: bigint; changes: number }) => void;
}

/** One entry of a change batch, with the Kafka record it came in; rows of format-3 batches stay encoded. */
interface Item {
  offset: string;
  rec: ChangeStreamRecord<RowChange | EncodedChange>;
  /** The last entry of its Kafka record. */
  whole: boolean;
}

interface PartitionState {
  client: pg.Client;
  /** Everything at or below this is in the target (committed). */
  applied: Position | undefined;
  /** Transactional mode: applied in the open target transaction, not yet committed. */
  inflight: Position | undefined;
  open: boolean;
}

/**
 * The destination's apply loop: consumes the changes topic (all partitions, in parallel) and applies each
 * partition's records in target transactions that also store the partition's position, skipping whatever is at
 * or below it. Barriers (truncates, key moves, a table's failure) are applied once every partition reached them.
 * In transactional mode (one partition) a target transaction ends only at a source transaction's end.
 */
export async function runApplyLoop(o: ApplyLoopOptions, signal: AbortSignal): Promise<void> {
  const log = o.log.child({ component: 'apply', database: o.database, topic: o.topic });
  const catalog = new TargetCatalog();
  const meta = await connect({ url: o.targetUrl, database: o.database, applicationName: 'dcsync-apply' });
  const parts = new Map<number, PartitionState>();
  const consumer = createConsumer({ kafka: o.kafka, topic: o.topic, groupId: o.groupId, log });
  let tables: Map<string, TargetTableState>;
  let positions: Map<number, Position & { nextOffset: string | null }>;
  try {
    tables = await o.state.tables(meta);
    positions = await o.state.positions(meta);
  } catch (err) {
    await meta.end().catch(() => {});
    throw err;
  }
  let appliedBarrier: Position | undefined = positions.get(BARRIER_PARTITION);
  const arrived = new Map<string, Set<number>>();
  const paused = new Set<number>();

  const outcome = createOutcome();
  const settle = outcome.settle;
  const onAbort = (): void => settle(new AbortedError());
  signal.addEventListener('abort', onAbort, { once: true });

  const partition = async (p: number): Promise<PartitionState> => {
    let s = parts.get(p);
    if (!s) {
      const client = await connect({ url: o.targetUrl, database: o.database, applicationName: `dcsync-apply-${p}` });
      // No triggers or FK checks, as native logical replication. synchronous_commit off, as native subscriptions
      // default to: the commit does not wait for the WAL flush. Safe because the partition's position and Kafka
      // offset are in the same transaction as its data: a crash of the target loses a tail of whole transactions,
      // data and position together, and the restarted loop reads that tail again from Kafka. Nothing outside the
      // target relies on the commit (the source confirms its slot on Kafka's acknowledgements, not the target's).
      await client.query('SET session_replication_role = replica; SET synchronous_commit = off');
      s = { client, applied: positions.get(p), inflight: undefined, open: false };
      parts.set(p, s);
    }
    return s;
  };

  // By TableId object: the changes of one batch body share theirs, so most lookups skip building the name.
  let byId = new WeakMap<TableId, TargetTableState | null>();
  const tableState = (table: TableId): TargetTableState | undefined => {
    let t = byId.get(table);
    if (t === undefined) byId.set(table, (t = tables.get(tableKey(table)) ?? null));
    return t ?? undefined;
  };

  const wanted = (c: RowChange | EncodedChange, pos: Position): boolean => {
    const t = tableState(c.table);
    if (t?.status === 'failed') return false;
    // The table was copied from a snapshot taken after this change: the copy contains it already.
    return !t || pos.lsn >= t.snapshotLsn;
  };

  const begin = async (s: PartitionState): Promise<void> => {
    if (!s.open) {
      await s.client.query('BEGIN');
      s.open = true;
    }
  };

  const commit = async (s: PartitionState, p: number, pos: Position, commitTimeUs: bigint, changes: number, next: string): Promise<void> => {
    await begin(s);
    await o.state.savePosition(s.client, p, pos, commitTimeUs, next);
    await s.client.query('COMMIT');
    s.open = false;
    s.applied = pos;
    s.inflight = undefined;
    o.onApplied?.({ partition: p, position: pos, commitTimeUs, changes });
  };

  const applyBarrier = async (s: PartitionState, b: Barrier, pos: Position): Promise<void> => {
    switch (b.type) {
      case 'changes': {
        const changes = b.changes.filter((c) => wanted(c, pos));
        if (changes.length > 0) await applyChanges(s.client, catalog, changes);
        return;
      }
      case 'truncate': {
        const list = b.tables.filter((t) => {
          const st = tables.get(tableKey(t));
          return st?.status !== 'failed' && (!st || pos.lsn >= st.snapshotLsn);
        });
        if (list.length > 0) await s.client.query(`TRUNCATE ONLY ${list.map(qualifiedName).join(', ')}${b.restartIdentity ? ' RESTART IDENTITY' : ''}`);
        return;
      }
      case 'table-failed': {
        await o.state.failTable(s.client, b.table, b.reason);
        const st = tables.get(tableKey(b.table));
        if (st) st.status = 'failed';
        else {
          tables.set(tableKey(b.table), failedTable(b.table, b.reason));
          byId = new WeakMap();
        }
        log.error('table replication stopped', { table: tableKey(b.table), reason: b.reason });
        return;
      }
    }
  };

  const eachBatch = async (p: number, records: Iterable<Item>, ctl: { resolveOffset(o: string): void; pause(): void }): Promise<void> => {
    const s = await partition(p);
    let batch: (RowChange | EncodedChange)[] = [];
    let last: Item | undefined;
    let lastEnd: Item | undefined;
    let count = 0;
    // A Kafka record holds many entries: it is done (its offset resolved, the next one stored) only with its last.
    const resolveTo = (item: Item): void => {
      if (item.whole) ctl.resolveOffset(item.offset);
      else if (BigInt(item.offset) > 0n) ctl.resolveOffset((BigInt(item.offset) - 1n).toString());
    };
    const resumeAt = (item: Item): string => (item.whole ? nextOffset(item.offset) : item.offset);
    // Entries that were all at or below the applied position: move the offset on, or they come again forever.
    const skipTo = resolveTo;
    const flush = async (upTo: Item): Promise<void> => {
      await begin(s);
      if (batch.length > 0) await applyChanges(s.client, catalog, batch);
      count += batch.length;
      batch = [];
      await commit(s, p, upTo.rec.pos, upTo.rec.commitTimeUs, count, resumeAt(upTo));
      resolveTo(upTo);
      count = 0;
    };
    for (const item of records) {
      const { rec } = item;
      const floor = s.inflight ?? s.applied;
      if (rec.kind === 'barrier') {
        if (appliedBarrier && comparePositions(rec.pos, appliedBarrier) <= 0) {
          last = item;
          continue;
        }
        if (o.partitions === 1) {
          // One partition: the barrier is just the next step of the open transaction.
          last = item;
          if (floor && comparePositions(rec.pos, floor) <= 0) continue;
          await begin(s);
          if (batch.length > 0) {
            await applyChanges(s.client, catalog, batch);
            count += batch.length;
            batch = [];
          }
          await applyBarrier(s, rec.barrier, rec.pos);
          await o.state.savePosition(s.client, BARRIER_PARTITION, rec.pos, rec.commitTimeUs, null);
          appliedBarrier = rec.pos;
          s.inflight = rec.pos;
          lastEnd = rec.endOfTx ? item : undefined;
          continue;
        }
        if (last && (batch.length > 0 || !s.applied || comparePositions(last.rec.pos, s.applied) > 0)) await flush(last);
        const key = `${formatLsn(rec.pos.lsn)}:${rec.pos.index}`;
        let set = arrived.get(key);
        if (!set) arrived.set(key, (set = new Set()));
        set.add(p);
        if (set.size < o.partitions) {
          ctl.pause();
          paused.add(p);
          return;
        }
        arrived.delete(key);
        await begin(s);
        await applyBarrier(s, rec.barrier, rec.pos);
        await o.state.savePosition(s.client, BARRIER_PARTITION, rec.pos, rec.commitTimeUs, null);
        await commit(s, p, rec.pos, rec.commitTimeUs, 0, resumeAt(item));
        appliedBarrier = rec.pos;
        resolveTo(item);
        const others = [...paused];
        paused.clear();
        if (others.length > 0) consumer.resume([{ topic: o.topic, partitions: others }]);
        last = undefined;
        lastEnd = undefined;
        continue;
      }
      last = item;
      if (floor && comparePositions(rec.pos, floor) <= 0) continue;
      if (rec.kind === 'change' && wanted(rec.change, rec.pos)) batch.push(rec.change);
      const ends = rec.kind === 'commit' || rec.kind === 'heartbeat' || (rec.kind === 'change' && rec.endOfTx);
      if (o.mode === 'transactional' && o.partitions === 1) {
        if (batch.length >= 5000) {
          await begin(s);
          await applyChanges(s.client, catalog, batch);
          count += batch.length;
          batch = [];
        }
        s.inflight = rec.pos;
        lastEnd = ends ? item : undefined;
      } else if ((batch.length >= 20_000 && ends) || batch.length >= 50_000) await flush(item); // parallel mode may split a huge transaction: bounded memory
    }
    if (!last) return;
    if (o.mode === 'transactional' && o.partitions === 1) {
      if (batch.length > 0) {
        await begin(s);
        await applyChanges(s.client, catalog, batch);
        count += batch.length;
        batch = [];
      }
      // A target transaction ends only where a source transaction ends; the rest stays open for the next batch.
      if (lastEnd === last) await flush(last);
      else if (!s.open) skipTo(last);
      else if (count === 0) await delay(100); // the rest of an open transaction is still on its way
      return;
    }
    if (batch.length > 0 || !s.applied || comparePositions(last.rec.pos, s.applied) > 0) await flush(last);
    else skipTo(last);
  };

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
          // Decoded one Kafka record at a time, as the loop reaches it: memory stays bounded by the apply batch.
          const items = function* (): Generator<Item> {
            for (const m of batch.messages) {
              const entries = readChangeBatch(m.headers as RawHeaders | undefined, m.value);
              for (let i = 0; i < entries.length; i++) yield { offset: m.offset, rec: entries[i]!, whole: i === entries.length - 1 };
            }
          };
          if (batch.messages.length > 0) await eachBatch(batch.partition, items(), { resolveOffset, pause });
        } catch (err) {
          pause();
          settle(err);
        }
      },
    });
    for (const [p, pos] of positions) if (p >= 0 && pos.nextOffset !== null) consumer.seek({ topic: o.topic, partition: p, offset: pos.nextOffset });
    log.info('applying changes', { mode: o.mode, partitions: o.partitions });
    await outcome.promise;
  } finally {
    signal.removeEventListener('abort', onAbort);
    await consumer.disconnect().catch(() => {});
    for (const s of parts.values()) {
      if (s.open) await s.client.query('ROLLBACK').catch(() => {});
      await s.client.end().catch(() => {});
    }
    await meta.end().catch(() => {});
  }
}

function failedTable(table: TableId, reason: string): TargetTableState {
  return { table, snapshotLsn: 0n as TargetTableState['snapshotLsn'], columns: [], status: 'failed', rowsCopied: 0, error: reason };
}
