import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Logger } from '../core/logger.ts';
import { qualifiedName, quoteIdent, tableKey, type TableId } from '../model/change.ts';
import { decodeSnapshotRecord, type SnapshotStreamRecord } from '../transport/record-format/index.ts';
import { consumeInOrder, nextOffset } from '../transport/kafka/kafka-source.ts';
import { CHAIN_START, RecordChain, sequenceOf, type ResumePoint } from '../transport/record-sequence.ts';
import type { TargetState, TargetTableState } from './target-state.ts';
import { ReplicationError } from '../core/errors.ts';
import type { RecordKey } from '../transport/record-auth.ts';
import { checkRecordMac, checkReplicatedTable, type RecordOrigin } from './record-guard.ts';

export interface SnapshotLoaderOptions {
  kafka: Kafka;
  database: string;
  topic: string;
  groupId: string;
  target: pg.Client;
  /** More connections to the target database: table parts load in parallel on them too. */
  loaders?: pg.Client[];
  state: TargetState;
  /** The sync run's record key: every record must verify under it (record-auth.ts). */
  recordKey?: RecordKey;
  log: Logger;
}

/**
 * Applies the snapshot topic in order: structure (pre-data), each table's copy (COPY of compressed parts, each
 * part once, recorded in the same transaction), then indexes and constraints (post-data). A table announced again
 * with a newer snapshot LSN (the source restarted its copy) is emptied and loaded again. Resolves once the
 * snapshot-end record is applied.
 */
export async function loadSnapshot(o: SnapshotLoaderOptions, signal: AbortSignal): Promise<void> {
  const sync = await o.state.sync(o.target);
  if (sync.snapshotComplete) return;
  const tables = await o.state.tables(o.target);
  const pool = new SessionPool([o.target, ...(o.loaders ?? [])]);
  const resume = sync.snapshotResume;
  const chain = new RecordChain({ database: o.database, topic: o.topic, partition: 0 }, resume ? resume.mark : CHAIN_START, resume?.offset ?? null);
  await consumeInOrder(
    { kafka: o.kafka, topic: o.topic, groupId: o.groupId, log: o.log, ...(resume ? { startOffsets: new Map([[0, resume.offset]]) } : {}) },
    async (records) => {
      // Consecutive parts of one table load in one transaction and one COPY (far fewer round trips than a part each),
      // several groups at once on the loader connections. A group's transaction does not move the stored read
      // position (groups may commit out of order): it moves at the next record applied in order, and parts read
      // again after a crash are skipped as claimed.
      let group: { parts: ChunkRecord[]; bytes: number } | undefined;
      const loadGroup = async (): Promise<void> => {
        if (!group) return;
        const parts = group.parts;
        group = undefined;
        await pool.run((c) => loadParts(o, c, parts, tables, null));
      };
      for (const { headers, key, value, offset, partition } of records) {
        checkRecordMac(o.recordKey, { key, headers, value }, { topic: o.topic, partition, offset });
        const step = chain.check(offset, sequenceOf(headers));
        const r = decodeSnapshotRecord(headers, value);
        guardSnapshotRecord(r, { topic: o.topic, partition, offset });
        if (r.kind === 'chunk') {
          const same = group && tableKey(group.parts[0]!.table) === tableKey(r.table) && group.parts[0]!.snapshotLsn === r.snapshotLsn;
          if (!same || group!.bytes > 8 * 1024 * 1024) await loadGroup();
          if (!group) group = { parts: [], bytes: 0 };
          group.parts.push(r);
          group.bytes += r.data.length;
          continue;
        }
        await loadGroup();
        await pool.drain();
        const done = await applyRecord(o, r, tables, { offset: nextOffset(offset), mark: step.after });
        if (done) return 'stop';
      }
      await loadGroup();
      await pool.drain();
      chain.resolved(records[records.length - 1]!.offset);
      return 'continue';
    },
    signal,
  );
}

/** Runs work on whichever connection is free; `drain` waits for all and reports the first failure. */
class SessionPool {
  readonly #idle: pg.Client[];
  readonly #waiting: ((c: pg.Client) => void)[] = [];
  readonly #running = new Set<Promise<void>>();
  #failure: unknown;

  constructor(sessions: pg.Client[]) {
    this.#idle = [...sessions];
  }

  async run(fn: (c: pg.Client) => Promise<void>): Promise<void> {
    if (this.#failure) throw this.#failure;
    const c = this.#idle.pop() ?? (await new Promise<pg.Client>((resolve) => this.#waiting.push(resolve)));
    const p = fn(c)
      .catch((err: unknown) => {
        this.#failure ??= err;
      })
      .finally(() => {
        this.#running.delete(p);
        const next = this.#waiting.shift();
        if (next) next(c);
        else this.#idle.push(c);
      });
    this.#running.add(p);
  }

  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
    if (this.#failure) throw this.#failure;
  }
}

async function tx<T>(c: pg.Client, state: TargetState, next: ResumePoint | null, fn: () => Promise<T>): Promise<T> {
  await c.query('BEGIN');
  try {
    await state.checkFence(c);
    await c.query('SET LOCAL session_replication_role = replica');
    const out = await fn();
    if (next !== null) await state.setSnapshotResume(c, next);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

type ChunkRecord = Extract<SnapshotStreamRecord, { kind: 'chunk' }>;

/** Parts of one table and snapshot: each applied once (claimed in the same transaction), all in one COPY. */
async function loadParts(o: SnapshotLoaderOptions, c: pg.Client, parts: ChunkRecord[], tables: Awaited<ReturnType<TargetState['tables']>>, next: ResumePoint | null): Promise<void> {
  const first = parts[0]!;
  const known = tables.get(tableKey(first.table));
  // Parts of an older copy of this table, superseded by a newer snapshot: only the read position moves on.
  if (!known || known.snapshotLsn !== first.snapshotLsn) {
    await tx(c, o.state, next, async () => {});
    return;
  }
  await tx(c, o.state, next, async () => {
    // As in the apply loop: the claimed parts commit with their rows, so a commit lost in a target crash is loaded again.
    await c.query('SET LOCAL synchronous_commit = off');
    const claimed = await o.state.claimParts(c, first.table, first.snapshotLsn, parts);
    const todo = parts.filter((p) => claimed.has(`${p.chunk}/${p.part}`));
    if (todo.length === 0) return;
    const sql = `COPY ${qualifiedName(first.table)} (${known.columns.map(quoteIdent).join(', ')}) FROM STDIN`;
    await pipeline(Readable.from(todo.map((p) => p.data)), c.query(copyFrom(sql)));
    await o.state.addRowsCopied(c, first.table, todo.reduce((n, p) => n + p.rows, 0));
  });
}

async function applyRecord(o: SnapshotLoaderOptions, r: SnapshotStreamRecord, tables: Awaited<ReturnType<TargetState['tables']>>, next: ResumePoint): Promise<boolean> {
  const c = o.target;
  switch (r.kind) {
    case 'schema': {
      const sync = await o.state.sync(c);
      if (sync.schemaApplied) return false;
      await tx(c, o.state, next, async () => {
        await c.query(r.preData);
        await c.query(`SELECT pg_catalog.set_config('search_path', 'public', true)`);
        await o.state.setSchemaApplied(c);
      });
      o.log.info('structure created');
      return false;
    }
    case 'table-begin': {
      const known = tables.get(tableKey(r.table));
      if (known && known.snapshotLsn === r.snapshotLsn) return false;
      await tx(c, o.state, next, async () => {
        await c.query(`TRUNCATE ONLY ${qualifiedName(r.table)}`);
        await o.state.beginTable(c, r.table, r.snapshotLsn, r.columns, r.estimatedRows);
      });
      tables.set(tableKey(r.table), { table: r.table, snapshotLsn: r.snapshotLsn, columns: r.columns, status: 'copying', rowsCopied: 0, error: null });
      return false;
    }
    case 'chunk':
      await loadParts(o, c, [r], tables, next);
      return false;
    case 'table-end': {
      const known = tables.get(tableKey(r.table));
      if (!known || known.snapshotLsn !== r.snapshotLsn) return false;
      await tx(c, o.state, next, () => o.state.endTable(c, r.table, r.rows));
      known.status = 'copied';
      o.log.info('table loaded', { table: tableKey(r.table), rows: r.rows });
      return false;
    }
    case 'snapshot-end': {
      const partial = unfinishedTables(tables, r.tables);
      if (partial.length > 0) {
        throw new ReplicationError(
          `the source announced the end of its initial copy while ${partial.length} table(s) were not copied completely (${partial.slice(0, 5).join(', ')}${partial.length > 5 ? ', …' : ''}): the copy at the destination is not complete and is not used. Configure the sync again (dcsync configure sync) to start a new initial copy`,
          { retriable: false },
        );
      }
      await tx(c, o.state, next, async () => {
        await c.query(r.postData);
        await c.query(`SELECT pg_catalog.set_config('search_path', 'public', true)`);
        await o.state.setSnapshotComplete(c);
      });
      o.log.info('initial copy applied', { tables: r.tables.length });
      return true;
    }
  }
}

/**
 * Tables whose latest table-begin has no table-end (their copy is partial), and announced tables never begun:
 * a copy is complete only without any.
 */
export function unfinishedTables(tables: ReadonlyMap<string, TargetTableState>, announced: readonly TableId[]): string[] {
  const out = new Set<string>();
  for (const [key, t] of tables) if (t.status === 'copying') out.add(key);
  for (const t of announced) if (!tables.has(tableKey(t))) out.add(tableKey(t));
  return [...out].sort();
}

/** Refuses a snapshot record that names a table outside what can be replicated (record-guard.ts). */
function guardSnapshotRecord(r: SnapshotStreamRecord, origin: RecordOrigin): void {
  if (r.kind === 'chunk' || r.kind === 'table-begin' || r.kind === 'table-end') checkReplicatedTable(r.table, origin);
  if (r.kind === 'snapshot-end') for (const t of r.tables) checkReplicatedTable(t, origin);
}
