import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { ReplicationError } from '../core/errors.ts';
import { formatLsn, ZERO_LSN, type Lsn } from '../core/lsn.ts';
import type { Logger } from '../core/logger.ts';
import { AbortedError } from '../core/time.ts';
import { tableKey } from '../model/change.ts';
import { checkSourceServer, createSlotWithSnapshot, dropSlot, ensurePublications, listSourceTables, slotExists, updateDeleteCounters, type SourceTable } from './catalog.ts';
import { TableWatch } from './table-watch.ts';
import { connect, userOf } from '../postgres/connection.ts';
import { PgOutputTag } from '../postgres/protocol/index.ts';
import { ReplicationStream, type StartOptions } from './replication-stream.ts';
import { dumpSchema } from './schema-dump.ts';
import { ensureTopics } from '../transport/kafka/admin.ts';
import type { RecordKey } from '../transport/record-auth.ts';
import { KafkaSink } from '../transport/kafka/kafka-sink.ts';
import { encodeSnapshotRecord } from '../transport/record-format/index.ts';
import { topicName } from '../transport/topics.ts';
import { ChangeBuilder } from './change-builder.ts';
import { ChangeCapture } from './change-capture.ts';
import { Checkpoint } from './checkpoint.ts';
import { copyTables } from './snapshot-copier.ts';
import { SourceProgressStore, type SourceProgress } from './source-progress.ts';
import { SequenceSampler } from './sequence-sampler.ts';

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
  const closers: (() => Promise<unknown>)[] = [];
  let stream: ReplicationStream | undefined;
  try {
    const meta = await connect(conn);
    closers.push(() => meta.end());
    await checkSourceServer(meta, userOf(dbUrl));
    const oid = (await meta.query<{ oid: number }>(`SELECT oid::int AS oid FROM pg_database WHERE datname = current_database()`)).rows[0]!.oid;
    // Its own connection: progress is written by the copy while the stream loop uses `meta`.
    const progressConn = await connect(conn);
    closers.push(() => progressConn.end());
    const progressStore = new SourceProgressStore(progressConn, o.syncId, o.database);
    await progressStore.init();
    let progress = await progressStore.load();
    answerFirstRun(!progress);
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

    const { snapshotSink, changeSink } = await kafkaReady;
    if (progress?.schemaSent && snapshotSink.nextNumber(snapshotTopic, 0) === 0n) throw lostTopicsError(o.database, [snapshotTopic]);

    // The slot's exported snapshot (first run) or a temporary slot's (resuming an unfinished copy).
    const repl = await connect({ ...conn, replication: true });
    closers.push(() => repl.end());
    let pending: SourceTable[] = [];
    let snapshotLsn: Lsn = ZERO_LSN;
    let snapshotName: string | undefined;
    let snapshotRepl: pg.Client | undefined;
    if (!progress) {
      // A slot without progress is from a first run that died before recording anything: nothing was confirmed.
      if (await slotExists(meta, slot)) await dropSlot(meta, slot);
      const created = await createSlotWithSnapshot(repl, slot, false);
      log.info('slot created', { slot, lsn: formatLsn(created.consistentPoint) });
      const schema = await dumpSchema(withDb(dbUrl, o.database), created.snapshotName);
      await progressStore.create(slot, created.consistentPoint, schema.postData);
      progress = (await progressStore.load())!;
      const seq = snapshotSink.enqueue(snapshotTopic, 0, encodeSnapshotRecord(o.database, { kind: 'schema', snapshotLsn: created.consistentPoint, preData: schema.preData }));
      pending = tables;
      snapshotLsn = created.consistentPoint;
      snapshotName = created.snapshotName;
      snapshotRepl = repl;
      await waitAcked(snapshotSink, seq, signal);
      await progressStore.markSchemaSent();
    } else if (!progress.snapshotComplete) {
      pending = tables.filter((t) => !progress!.doneTables.has(tableKey(t.table)));
      if (pending.length > 0) {
        const tmp = await connect({ ...conn, replication: true });
        closers.push(() => tmp.end());
        const created = await createSlotWithSnapshot(tmp, `${slot}_r${process.pid}_${Date.now() % 1_000_000}`, true);
        snapshotLsn = created.consistentPoint;
        snapshotName = created.snapshotName;
        snapshotRepl = tmp;
        log.info('resuming initial copy from a new snapshot', { tables: pending.length, lsn: formatLsn(snapshotLsn) });
      }
    }

    // Copy sessions import the snapshot before the exporting connection runs anything else.
    const sessions: pg.Client[] = [];
    if (snapshotName && pending.length > 0) {
      for (let i = 0; i < Math.max(1, o.copySessions); i++) {
        const s = await connect(conn);
        closers.push(() => s.end());
        await s.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        await s.query(`SET TRANSACTION SNAPSHOT '${snapshotName}'`);
        sessions.push(s);
      }
    }
    if (snapshotRepl && snapshotRepl !== repl) await snapshotRepl.end();

    // What the destination holds is what was announced at the first start, not what the catalog shows now.
    let announced = progress.announced;
    let baseline = progress.keylessBaseline;
    if (!announced || !baseline) {
      announced = tables;
      baseline = await updateDeleteCounters(meta, tables.filter((t) => t.noIdentity).map((t) => t.oid));
      await progressStore.recordAnnounced(announced, baseline);
    }
    const snapshotDone = { value: progress.snapshotComplete };
    const checkpoint = new Checkpoint(ZERO_LSN);
    const builder = new ChangeBuilder(announced);
    const capture = new ChangeCapture({ syncId: o.syncId, database: o.database, topic: changesTopic, partitions: o.partitions, sink: changeSink, checkpoint, builder });
    changeSink.onAcked((seq) => checkpoint.acked(seq));
    stream = new ReplicationStream(repl, () => ({ written: checkpoint.received, flushed: checkpoint.flushed }), log);

    const copying =
      pending.length > 0
        ? copyTables(pending, {
            database: o.database,
            topic: snapshotTopic,
            snapshotLsn,
            sessions,
            sink: snapshotSink,
            partBytes: o.partBytes,
            chunkPages: o.chunkPages,
            log,
            signal,
            onTableDone: (t, rows) => progressStore.markTableDone(t.table, snapshotLsn, rows),
          }).then(async () => {
            for (const s of sessions) await s.query('COMMIT');
            await finishSnapshot();
          })
        : progress.snapshotComplete
          ? Promise.resolve()
          : finishSnapshot();

    async function finishSnapshot(): Promise<void> {
      if (signal.aborted) throw new AbortedError(); // a stopping task never announces the end of a copy
      const seq = snapshotSink.enqueue(
        snapshotTopic,
        0,
        encodeSnapshotRecord(o.database, { kind: 'snapshot-end', snapshotLsn: progress!.consistentLsn, postData: progress!.postData, tables: tables.map((t) => t.table) }),
      );
      await waitAcked(snapshotSink, seq, signal);
      await progressStore.markSnapshotComplete();
      snapshotDone.value = true;
      log.info('initial copy complete', { tables: tables.length });
    }

    const copyFailure = copying.then(
      () => undefined,
      (err: unknown) => err,
    );
    const report = (): void => o.onProgress?.({ snapshotComplete: snapshotDone.value, lastData: capture.lastData, flushedLsn: checkpoint.flushed });
    const sequences = new SequenceSampler({ conn: meta, sink: changeSink, topic: sequencesTopic, database: o.database, intervalMs: 2_000 });
    const tick = async (): Promise<void> => {
      report();
      await sequences.tick();
    };
    const start = { slot, startLsn: ZERO_LSN, publications, protoVersion: 1 as const, messages: true, statusIntervalMs: o.statusIntervalMs };
    const watch = new TableWatch({ conn: meta, syncId: o.syncId, publicationBase: publicationBase(o.syncId), announced, baseline, log });
    await streamLoop(o, stream, start, capture, checkpoint, changeSink, meta, watch, signal, log, copyFailure, tick);
    // Asked to stop: what was captured goes out, and what Kafka acknowledges within a few seconds is confirmed to the
    // slot as the stream closes, so that the next start does not stream it again.
    stream.pause();
    if (!changeSink.failure) {
      capture.flush();
      await changeSink.flush(AbortSignal.timeout(STOP_SETTLE_MS)).catch(() => {}); // not acknowledged in time: not confirmed
    }
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

async function waitAcked(sink: KafkaSink, seq: number, signal: AbortSignal): Promise<void> {
  while (sink.acked < seq) await sink.flush(signal);
}

/** On a stop, how long the records already produced may take to be acknowledged before the stream closes. */
const STOP_SETTLE_MS = 5_000;

/** At least this many frames between two wake-ups of the stream loop means a backlog: see streamLoop. */
const COALESCE_FRAMES = 256;
const COALESCE_MS = 100;
/** Per partition. */
const COALESCE_ENTRIES = 1000;
/** Stop reading from the server while this many entries wait unsent (the loop flushes them first). */
const MAX_PENDING_ENTRIES = 200_000;

async function streamLoop(
  o: SourceTaskOptions,
  stream: ReplicationStream,
  start: StartOptions,
  capture: ChangeCapture,
  checkpoint: Checkpoint,
  sink: KafkaSink,
  meta: pg.Client,
  watch: TableWatch,
  signal: AbortSignal,
  log: Logger,
  copyFailure: Promise<unknown>,
  tick: () => Promise<void>,
): Promise<void> {
  let failure: unknown;
  void copyFailure.then((e) => {
    if (e && !(e instanceof AbortedError)) failure = e;
  });
  let committed = false;
  // Frames are captured as they arrive (ChangeCapture copies what it keeps); this loop decides when to flush.
  stream.start(start, {
    message(x) {
      capture.handle(x);
      if (x.buf[x.start] === PgOutputTag.Commit) committed = true;
      if (capture.pending >= MAX_PENDING_ENTRIES) stream.pause();
    },
    keepalive(walEnd) {
      capture.flush();
      checkpoint.idle(walEnd, capture.inTransaction, sink.acked === sink.lastEnqueued);
    },
  });
  let lastActivity = Date.now();
  let lastHeartbeat = 0;
  // The first check at once: what changed while the task was stopped stops its table before its changes stream.
  let lastIdentityCheck = 0;
  // While a backlog streams in (full reads), entries wait up to COALESCE_MS to leave in fewer, larger Kafka records:
  // each record costs a Brotli set-up at both ends and per-record work in three JVMs. A trickle (short reads) leaves at once.
  let waitingSince = 0;
  // The first entries leave at once, however few: MirrorMaker and the destination start on them meanwhile.
  let sentAny = false;
  while (!signal.aborted) {
    if (failure) throw failure;
    if (sink.failure) throw sink.failure;
    const frames = await stream.waitForFrames(capture.pending > 0 ? COALESCE_MS : 250);
    const now = Date.now();
    if (committed) {
      lastActivity = now;
      committed = false;
    }
    if (capture.pending > 0 && waitingSince === 0) waitingSince = now;
    if (frames < COALESCE_FRAMES || capture.pending >= COALESCE_ENTRIES * o.partitions || now - waitingSince >= COALESCE_MS || !sentAny) {
      sentAny ||= capture.pending > 0;
      capture.flush();
      waitingSince = 0;
    }
    await tick();
    if (sink.pendingBytes > 16 * 1024 * 1024) {
      stream.pause();
      await sink.waitForRoom(signal);
    }
    if (capture.pending < MAX_PENDING_ENTRIES) stream.resume();
    if (now - lastActivity > o.heartbeatMs && now - lastHeartbeat > o.heartbeatMs) {
      lastHeartbeat = now;
      await meta.query(`SELECT pg_logical_emit_message(false, 'dcsync.heartbeat', '')`).catch((err: unknown) => log.warn('heartbeat failed', { error: err as Error }));
    }
    if (now - lastIdentityCheck > o.identityCheckMs) {
      lastIdentityCheck = now;
      await watch.check();
    }
  }
}
