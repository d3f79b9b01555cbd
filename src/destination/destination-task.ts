import type { Kafka } from 'kafkajs';
import type { Logger } from '../core/logger.ts';
import { ReplicationError } from '../core/errors.ts';
import { classifyPgError } from '../postgres/errors.ts';
import { quoteIdent } from '../model/change.ts';
import { connect } from '../postgres/connection.ts';
import type { RecordKey } from '../transport/record-auth.ts';
import { setApplicationsReadOnly } from '../postgres/read-only.ts';
import { checkMirroredTopic, waitForTopic } from '../transport/kafka/admin.ts';
import { remoteTopicName, topicName, type ReplicationPolicy } from '../transport/topics.ts';
import { runApplyLoop, type ApplyLoopOptions, type ApplyMode } from './apply-loop.ts';
import { runSequenceApplier } from './sequence-applier.ts';
import { loadSnapshot } from './snapshot-loader.ts';
import { TargetState } from './target-state.ts';
import { currentEpoch, FencedError, TARGET_FENCE_DDL } from './fence.ts';

export interface DestinationTaskOptions {
  syncId: string;
  /** The source database; the target database has the same name. */
  database: string;
  /** The target cluster (any database). */
  targetUrl: string;
  /** The destination datacenter's Kafka (where MirrorMaker 2 writes). */
  kafka: Kafka;
  sourceAlias: string;
  policy: ReplicationPolicy;
  mode: ApplyMode;
  /**
   * The fencing token of this run of the task (the master's assignment epoch): it takes the target database over
   * from any run with a smaller one, and is refused once a larger one took it (docs/worker.md, Fencing).
   */
  epoch: number;
  /** Who holds the fence, for operators reading dcsync.target_fence (e.g. the worker id). */
  holder?: string;
  /** The sync run's record key: nothing that does not verify under it is applied (record-auth.ts). */
  recordKey?: RecordKey;
  log: Logger;
  /** Called after each applied batch of the changes topic (the worker's metrics). */
  onApplied?: ApplyLoopOptions['onApplied'];
}

/**
 * One source database ← B's Kafka: creates the target database if needed, applies the snapshot topic
 * (structure, copy, indexes), then the changes topic, forever.
 */
export async function runDestinationTask(o: DestinationTaskOptions, signal: AbortSignal): Promise<void> {
  const log = o.log.child({ component: 'destination', database: o.database, syncId: o.syncId, epoch: o.epoch });
  try {
    await ensureDatabase(o.targetUrl, o.database);
    await prepareTargetDatabase(o.targetUrl, o.database, o.syncId, log);
    await keepApplicationsOut(o, log);
    await applyAll(o, log, signal);
  } catch (err) {
    if (err instanceof FencedError || signal.aborted) throw err;
    // A successor ends the sessions of the task it replaces: whatever the failure looks like then (a lost
    // connection, a client no longer queryable), the fence tells that this run is over.
    const held = await fenceHolder(o).catch(() => null);
    if (held !== null && held > o.epoch) throw new FencedError(o.syncId, o.epoch, held);
    // Query failures reach here as pg's own errors: a lost connection is retried.
    throw classifyPgError(err, { database: o.database });
  }
}

/**
 * While it syncs, the target database takes no application writes (read-only.ts); without the privilege, says so.
 * The maintenance database stays writable: administration (CREATE DATABASE, the masters' tools) runs there.
 */
async function keepApplicationsOut(o: DestinationTaskOptions, log: Logger): Promise<void> {
  if (o.database === MAINTENANCE_DATABASE) return;
  const c = await connect({ url: o.targetUrl, database: o.database, applicationName: 'dcsync-destination' });
  try {
    await setApplicationsReadOnly(c, o.database, true);
  } catch (err) {
    if ((err as { code?: string }).code !== '42501') throw err;
    log.warn('the target database stays writable for applications while it syncs: the target role may not ALTER DATABASE', {
      fix: `make the target role the owner of database '${o.database}' (or let dcsync create it)`,
    });
  } finally {
    await c.end().catch(() => {});
  }
}

const MAINTENANCE_DATABASE = 'postgres';

async function fenceHolder(o: DestinationTaskOptions): Promise<number | null> {
  const c = await connect({ url: o.targetUrl, database: o.database, applicationName: 'dcsync-fence-check' });
  try {
    return await currentEpoch(c, o.syncId);
  } finally {
    await c.end().catch(() => {});
  }
}

async function applyAll(o: DestinationTaskOptions, log: Logger, signal: AbortSignal): Promise<void> {
  const state = new TargetState(o.syncId, o.epoch);
  const target = await connect({ url: o.targetUrl, database: o.database, applicationName: `dcsync-destination-${o.syncId}` });
  let partitions: number;
  let changesTopic: string;
  const group = `dcsync.${o.syncId}.${o.database}`;
  try {
    await state.init(target);
    await state.takeOver(target, { holder: o.holder ?? 'dcsync', log, signal });
    const snapshotTopic = remoteTopicName(o.policy, o.sourceAlias, topicName(o.syncId, o.database, 'snapshot'));
    changesTopic = remoteTopicName(o.policy, o.sourceAlias, topicName(o.syncId, o.database, 'changes'));
    if (!(await state.sync(target)).snapshotComplete) {
      log.info('waiting for the snapshot topic', { topic: snapshotTopic });
      await waitForTopic(o.kafka, snapshotTopic, signal);
      await checkMirroredTopic(o.kafka, snapshotTopic, 'snapshot');
      const loader = await connect({ url: o.targetUrl, database: o.database, applicationName: `dcsync-destination-${o.syncId}` });
      try {
        await loadSnapshot({ kafka: o.kafka, database: o.database, topic: snapshotTopic, groupId: `${group}.snapshot`, target, loaders: [loader], state, log, ...keyOf(o) }, signal);
      } finally {
        await loader.end().catch(() => {});
      }
    }
    partitions = await waitForTopic(o.kafka, changesTopic, signal);
    await checkMirroredTopic(o.kafka, changesTopic, 'changes');
  } finally {
    await target.end().catch(() => {});
  }
  const sequencesTopic = remoteTopicName(o.policy, o.sourceAlias, topicName(o.syncId, o.database, 'sequences'));
  await runTogether(
    [
      (s) => runApplyLoop({ kafka: o.kafka, topic: changesTopic, groupId: `${group}.changes`, partitions, targetUrl: o.targetUrl, database: o.database, state, mode: o.mode, log, ...keyOf(o), ...(o.onApplied ? { onApplied: o.onApplied } : {}) }, s),
      (s) => runSequenceApplier({ kafka: o.kafka, topic: sequencesTopic, groupId: `${group}.sequences`, targetUrl: o.targetUrl, database: o.database, state, log, ...keyOf(o) }, s),
    ],
    signal,
  );
}

function keyOf(o: DestinationTaskOptions): { recordKey?: RecordKey } {
  return o.recordKey ? { recordKey: o.recordKey } : {};
}

/** Runs loops side by side until the signal aborts; the first to fail stops the others, and its error is thrown. */
async function runTogether(loops: readonly ((signal: AbortSignal) => Promise<void>)[], signal: AbortSignal): Promise<void> {
  const inner = new AbortController();
  const both = AbortSignal.any([signal, inner.signal]);
  let first: unknown;
  await Promise.all(
    loops.map((loop) =>
      loop(both).catch((err: unknown) => {
        if (first === undefined && !inner.signal.aborted) first = err;
        inner.abort();
      }),
    ),
  );
  if (first !== undefined) throw first;
}

async function ensureDatabase(url: string, database: string): Promise<void> {
  const admin = await connect({ url, applicationName: 'dcsync-destination' });
  try {
    const r = await admin.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [database]);
    if ((r.rowCount ?? 0) === 0) await admin.query(`CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0 ENCODING 'UTF8'`);
  } finally {
    await admin.end().catch(() => {});
  }
}

/**
 * Makes the (existing) target database ready for this stream (`<sync>_<run>`): resumes when it holds this stream's state; empties it when it holds an earlier run's copy (a sync configured again after a
 * stop starts over, as the new run's structure and data replace the old); refuses a database dcsync did not
 * create that already holds tables, so an operator's data is never overwritten by surprise.
 */
export async function prepareTargetDatabase(url: string, database: string, stream: string, log: Logger): Promise<void> {
  const c = await connect({ url, database, applicationName: 'dcsync-destination' });
  try {
    const hasState = (await c.query<{ ok: boolean }>(`SELECT to_regclass('dcsync.target_sync') IS NOT NULL AS ok`)).rows[0]?.ok ?? false;
    const streams = hasState ? (await c.query<{ sync_id: string }>(`SELECT sync_id FROM dcsync.target_sync`)).rows.map((x) => x.sync_id) : [];
    if (streams.includes(stream)) return;
    const userTables = (
      await c.query<{ t: string }>(
        `SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND n.nspname NOT IN ('dcsync', 'information_schema') AND n.nspname !~ '^pg_' ORDER BY 1 LIMIT 3`,
      )
    ).rows.map((x) => x.t);
    if (streams.length === 0) {
      if (userTables.length === 0) return;
      throw new ReplicationError(
        `database '${database}' at the destination already holds tables dcsync did not create (${userTables.join(', ')}): dcsync does not overwrite them. Drop or rename that database, then run 'dcsync reset failed task' for this task`,
        { retriable: false },
      );
    }
    log.warn('the target database holds the copy of an earlier run: emptying it for a new initial copy', { database, earlier: streams, stream });
    const schemas = (await c.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('dcsync', 'information_schema') AND nspname !~ '^pg_'`)).rows.map((x) => x.nspname);
    await c.query('BEGIN');
    for (const n of schemas) await c.query(`DROP SCHEMA ${quoteIdent(n)} CASCADE`);
    await c.query(`CREATE SCHEMA public AUTHORIZATION pg_database_owner; GRANT USAGE ON SCHEMA public TO PUBLIC; COMMENT ON SCHEMA public IS 'standard public schema'`);
    await c.query(TARGET_FENCE_DDL);
    for (const t of ['target_tables', 'snapshot_parts', 'applied_position', 'target_fence', 'target_sync']) await c.query(`DELETE FROM dcsync.${t} WHERE sync_id <> $1`, [stream]);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    await c.end().catch(() => {});
  }
}
