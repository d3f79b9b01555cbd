import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { ReplicationError } from '../core/errors.ts';
import { formatLsn, ZERO_LSN, type Lsn } from '../core/lsn.ts';
import type { Logger } from '../core/logger.ts';
import { tableKey } from '../model/change.ts';
import { checkSourceServer, ensurePublications, listSourceTables, slotExists, updateDeleteCounters, type SourceTable } from './catalog.ts';
import { TableWatch } from './table-watch.ts';
import { connect, userOf, type ConnectOptions } from '../postgres/connection.ts';
import { ReplicationStream } from './replication-stream.ts';
import { ensureTopics } from '../transport/kafka/admin.ts';
import type { RecordKey } from '../transport/record-auth.ts';
import { KafkaSink } from '../transport/kafka/kafka-sink.ts';
import { topicName } from '../transport/topics.ts';
import { ChangeBuilder } from './change-builder.ts';
import { ChangeCapture } from './change-capture.ts';
import { Checkpoint } from './checkpoint.ts';
import { InitialCopy, type Closers } from './initial-copy.ts';
import { SourceProgressStore, type SourceProgress } from './source-progress.ts';
import { SequenceSampler } from './sequence-sampler.ts';
import { StreamLoop } from './stream-loop.ts';

export interface SourceTaskOptions {
  syncId: string;
  database: string;
  /** The source cluster (any database; the task swaps in its own). */
  sourceUrl: string;
  kafka: Kafka;
  /** Partitions of the changes topic; 1 gives transactional mode (total commit order). */
  partitions: number;
  copySessions: number;
  chunkPages: number;
  partBytes: number;
  heartbeatMs: number;
  statusIntervalMs: number;
  /** How often to check tables without a replica identity for updates and deletes. */
  identityCheckMs: number;
  /** Signs every record with the sync run's key (record-auth.ts). */
  recordKey?: RecordKey;
  log: Logger;
  /** Called often (at most every batch) with where the task stands; keep it cheap. */
  onProgress?: (p: SourceTaskProgress) => void;
}

export interface SourceTaskProgress {
  readonly snapshotComplete: boolean;
  /** Commit LSN and time (µs since the Unix epoch) of the last transaction with changes read from the slot. */
  readonly lastData: { readonly lsn: Lsn; readonly commitTimeUs: bigint } | undefined;
  /** Confirmed to the slot: durable in Kafka. */
  readonly flushedLsn: Lsn;
}

export function slotName(syncId: string, databaseOid: number): string {
  return `dcsync_${syncId}_${databaseOid}`;
}

export function publicationBase(syncId: string): string {
  return `dcsync_${syncId}`;
}

/**
 * One source database → A's Kafka. First run: publications, slot with exported snapshot, schema dump, the
 * initial copy of every table (in parallel with streaming), then streaming forever. A restart resumes: the slot
 * keeps the stream's position (only what Kafka acknowledged was confirmed), finished tables are not copied again,
 * unfinished ones are copied again from a new snapshot that the destination can tell apart by its LSN.
 */
export async function runSourceTask(o: SourceTaskOptions, signal: AbortSignal): Promise<void> {
  const log = o.log.child({ component: 'source', database: o.database, syncId: o.syncId });
  const dbUrl = o.sourceUrl;
  const conn = { url: dbUrl, database: o.database, applicationName: `dcsync-source-${o.syncId}` };
  const snapshotTopic = topicName(o.syncId, o.database, 'snapshot');
  const changesTopic = topicName(o.syncId, o.database, 'changes');
  const sequencesTopic = topicName(o.syncId, o.database, 'sequences');
  // Kafka's set-up runs meanwhile (a drain starts sooner after a restart); only creating a missing topic waits to
  // learn from PostgreSQL whether this is the sync's first run.
  let answerFirstRun: (first: boolean) => void = () => {};
  const firstRun = new Promise<boolean>((resolve) => (answerFirstRun = resolve));
  const kafkaReady = setUpKafka(o, log, snapshotTopic, changesTopic, sequencesTopic, async (missing) => {
    if (!(await firstRun)) throw lostTopicsError(o.database, missing);
  });
  kafkaReady.catch(() => {}); // awaited below, or in `finally` when PostgreSQL's set-up fails first
  const closers: Closers = [];
  let stream: ReplicationStream | undefined;
  try {
    const source = await openSource(o, conn, closers, log);
    answerFirstRun(!source.progress);
    const { meta, progressStore, slot, tables } = source;
    const { snapshotSink, changeSink } = await kafkaReady;
    if (source.progress?.schemaSent && snapshotSink.nextNumber(snapshotTopic, 0) === 0n) throw lostTopicsError(o.database, [snapshotTopic]);

    // The slot's exported snapshot (first run) or a temporary slot's (resuming an unfinished copy).
    const repl = await connect({ ...conn, replication: true });
    closers.push(() => repl.end());
    const copy = new InitialCopy({
      database: o.database,
      conn,
      schemaUrl: withDb(dbUrl, o.database),
      meta,
      repl,
      slot,
      tables,
      progressStore,
      sink: snapshotSink,
      topic: snapshotTopic,
      copySessions: o.copySessions,
      chunkPages: o.chunkPages,
      partBytes: o.partBytes,
      closers,
      log,
      signal,
    });
    const progress = await copy.prepare(source.progress);
    const { announced, baseline } = await announcedTables(meta, progressStore, progress, tables);

    stream = new ReplicationStream(repl, log);
    const checkpoint = new Checkpoint(stream, ZERO_LSN);
    const capture = new ChangeCapture({ syncId: o.syncId, database: o.database, topic: changesTopic, partitions: o.partitions, sink: changeSink, checkpoint, builder: new ChangeBuilder(announced) });
    changeSink.onAcked((seq) => checkpoint.acked(seq));
    const copying = copy.start();
    const sequences = new SequenceSampler({ conn: meta, sink: changeSink, topic: sequencesTopic, database: o.database, intervalMs: 2_000 });
    const loop = new StreamLoop({
      stream,
      start: { slot, startLsn: ZERO_LSN, publications: source.publications, protoVersion: 1, messages: true, statusIntervalMs: o.statusIntervalMs },
      capture,
      checkpoint,
      sink: changeSink,
      meta,
      watch: new TableWatch({ conn: meta, syncId: o.syncId, publicationBase: publicationBase(o.syncId), announced, baseline, log }),
      partitions: o.partitions,
      heartbeatMs: o.heartbeatMs,
      identityCheckMs: o.identityCheckMs,
      log,
      copyFailure: copying.then(
        () => undefined,
        (err: unknown) => err,
      ),
      tick: async () => {
        o.onProgress?.({ snapshotComplete: copy.complete, lastData: capture.lastData, flushedLsn: checkpoint.flushed });
        await sequences.tick();
      },
    });
    await loop.run(signal);
    await loop.drain();
    await copying;
  } finally {
    answerFirstRun(false);
    await stream?.close();
    const sinks = await kafkaReady.catch(() => undefined);
    await sinks?.snapshotSink.close();
    await sinks?.changeSink.close();
    for (const c of closers.reverse()) await c().catch(() => {});
  }
}

/** The source database as the task finds it: its sessions, the recorded progress, its tables and publications. */
interface OpenedSource {
  /** A plain session for the catalog, heartbeats and the table watch. */
  readonly meta: pg.Client;
  readonly progressStore: SourceProgressStore;
  /** Undefined on a first run. */
  readonly progress: SourceProgress | undefined;
  readonly slot: string;
  readonly tables: readonly SourceTable[];
  readonly publications: readonly string[];
}

/** Connects, checks the server, loads the progress (refusing a resume whose slot is gone) and publishes the tables. */
async function openSource(o: SourceTaskOptions, conn: ConnectOptions, closers: Closers, log: Logger): Promise<OpenedSource> {
  const meta = await connect(conn);
  closers.push(() => meta.end());
  await checkSourceServer(meta, userOf(o.sourceUrl));
  const oid = (await meta.query<{ oid: number }>(`SELECT oid::int AS oid FROM pg_database WHERE datname = current_database()`)).rows[0]!.oid;
  // Its own connection: progress is written by the copy while the stream loop uses `meta`.
  const progressConn = await connect(conn);
  closers.push(() => progressConn.end());
  const progressStore = new SourceProgressStore(progressConn, o.syncId, o.database);
  await progressStore.init();
  const progress = await progressStore.load();
  const slot = slotName(o.syncId, oid);
  if (progress && !(await slotExists(meta, slot)))
    throw new ReplicationError(
      `replication slot '${slot}' of database '${o.database}' is gone (dropped, or invalidated by max_slot_wal_keep_size): changes since ${formatLsn(progress.consistentLsn)} cannot be recovered. Stop the sync and configure it again for a new initial copy.`,
    );

  const tables = await listSourceTables(meta);
  const noIdentity = tables.filter((t) => t.noIdentity);
  if (noIdentity.length > 0)
    log.warn('tables without a usable replica identity: inserts replicate, an update or delete stops their replication', {
      tables: noIdentity.map((t) => tableKey(t.table)),
      fix: 'ALTER TABLE … REPLICA IDENTITY FULL (or DEFAULT with a primary key)',
    });
  const publications = await ensurePublications(meta, publicationBase(o.syncId), tables);
  return { meta, progressStore, progress, slot, tables, publications };
}

/**
 * What the destination holds is what was announced at the first start, not what the catalog shows now: the tables
 * and the update/delete counters of those without identity, recorded once.
 */
async function announcedTables(
  meta: pg.Client,
  progressStore: SourceProgressStore,
  progress: SourceProgress,
  tables: readonly SourceTable[],
): Promise<{ announced: readonly SourceTable[]; baseline: ReadonlyMap<number, number> }> {
  if (progress.announced && progress.keylessBaseline) return { announced: progress.announced, baseline: progress.keylessBaseline };
  const baseline = await updateDeleteCounters(meta, tables.filter((t) => t.noIdentity).map((t) => t.oid));
  await progressStore.recordAnnounced(tables, baseline);
  return { announced: tables, baseline };
}

/** The task's topics, created when missing, and its two producers; a failure closes the producer that did connect. */
async function setUpKafka(
  o: SourceTaskOptions,
  log: Logger,
  snapshotTopic: string,
  changesTopic: string,
  sequencesTopic: string,
  mayCreate: (missing: readonly string[]) => Promise<void>,
): Promise<{ snapshotSink: KafkaSink; changeSink: KafkaSink }> {
  await ensureTopics(
    o.kafka,
    [
      { topic: snapshotTopic, kind: 'snapshot', partitions: 1 },
      { topic: changesTopic, kind: 'changes', partitions: o.partitions },
      { topic: sequencesTopic, kind: 'sequences', partitions: 1 },
    ],
    mayCreate,
  );
  const signing = o.recordKey ? { recordKey: o.recordKey } : {};
  const [snapshot, changes] = await Promise.allSettled([
    KafkaSink.connect(o.kafka, log.child({ topic: snapshotTopic }), { maxPendingBytes: 32 * 1024 * 1024, numbered: [snapshotTopic], ...signing }),
    KafkaSink.connect(o.kafka, log.child({ topic: changesTopic }), { numbered: [changesTopic], ...signing }),
  ]);
  if (snapshot.status === 'fulfilled' && changes.status === 'fulfilled') return { snapshotSink: snapshot.value, changeSink: changes.value };
  for (const r of [snapshot, changes]) if (r.status === 'fulfilled') await r.value.close();
  throw snapshot.status === 'rejected' ? snapshot.reason : (changes as PromiseRejectedResult).reason;
}

/** Topics this sync produced to are gone or empty at A's Kafka: whatever they held that B had not read is lost. */
function lostTopicsError(database: string, topics: readonly string[]): ReplicationError {
  return new ReplicationError(
    `topic${topics.length > 1 ? 's' : ''} ${topics.map((t) => `'${t}'`).join(', ')} of database '${database}' ${topics.length > 1 ? 'are' : 'is'} gone from A's Kafka or empty, although this sync produced to ${topics.length > 1 ? 'them' : 'it'}: ` +
      `they were deleted or recreated, and records the destination had not read went with them. Stop the sync and configure it again for a new initial copy; never delete dcsync's topics of a running sync`,
    { retriable: false },
  );
}

function withDb(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = '/' + encodeURIComponent(db);
  return u.toString();
}
