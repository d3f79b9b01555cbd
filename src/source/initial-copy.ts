import type pg from 'pg';
import { formatLsn, ZERO_LSN, type Lsn } from '../core/lsn.ts';
import type { Logger } from '../core/logger.ts';
import { AbortedError } from '../core/time.ts';
import { tableKey } from '../model/change.ts';
import { connect, type ConnectOptions } from '../postgres/connection.ts';
import type { ChangeSink } from '../transport/sink.ts';
import { encodeSnapshotRecord } from '../transport/record-format/index.ts';
import { createSlotWithSnapshot, dropSlot, slotExists, type SourceTable } from './catalog.ts';
import { dumpSchema } from './schema-dump.ts';
import { copyTables, waitAcked } from './snapshot-copier.ts';
import type { SourceProgress, SourceProgressStore } from './source-progress.ts';

/** Closes what the task opened, in reverse order, when it ends. */
export type Closers = (() => Promise<unknown>)[];

export interface InitialCopyOptions {
  readonly database: string;
  /** The source database, as every session of the task connects to it. */
  readonly conn: ConnectOptions;
  /** The source database's URL, for pg_dump. */
  readonly schemaUrl: string;
  /** The task's plain session on the source database. */
  readonly meta: pg.Client;
  /** The task's replication connection; on a first run it exports the snapshot, then it streams. */
  readonly repl: pg.Client;
  readonly slot: string;
  /** The tables as the catalog shows them now. */
  readonly tables: readonly SourceTable[];
  readonly progressStore: SourceProgressStore;
  readonly sink: ChangeSink;
  readonly topic: string;
  readonly copySessions: number;
  readonly chunkPages: number;
  readonly partBytes: number;
  readonly closers: Closers;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

/** What is left to copy, from which snapshot, and the sessions that read it (empty when nothing is left). */
interface CopyPlan {
  readonly pending: readonly SourceTable[];
  readonly snapshotLsn: Lsn;
  readonly sessions: readonly pg.Client[];
}

/** An exported snapshot and the replication connection that holds it open. */
interface ExportedSnapshot {
  readonly lsn: Lsn;
  readonly name: string;
  readonly exporter: pg.Client;
}

/**
 * The initial copy of a source task, beside the stream. `prepare` finds where it stands: on a first run it creates
 * the slot with an exported snapshot and sends the schema, on a restart with an unfinished copy it takes a new
 * snapshot from a temporary slot for the tables not yet done. `start` then copies them and announces the end of
 * the copy once every table is durable in Kafka.
 */
export class InitialCopy {
  readonly #o: InitialCopyOptions;
  #progress: SourceProgress | undefined;
  #plan: CopyPlan = { pending: [], snapshotLsn: ZERO_LSN, sessions: [] };
  #complete = false;

  constructor(o: InitialCopyOptions) {
    this.#o = o;
  }

  /** Whether the end of the copy is durable in Kafka (as recorded, or since this task announced it). */
  get complete(): boolean {
    return this.#complete;
  }

  /** From the recorded progress (undefined on a first run): the progress as it stands once the slot exists. */
  async prepare(recorded: SourceProgress | undefined): Promise<SourceProgress> {
    let snapshot: ExportedSnapshot | undefined;
    let pending: readonly SourceTable[] = [];
    if (!recorded) {
      snapshot = await this.#createSlotAndSendSchema();
      pending = this.#o.tables;
    } else if (!recorded.snapshotComplete) {
      pending = this.#o.tables.filter((t) => !recorded.doneTables.has(tableKey(t.table)));
      if (pending.length > 0) snapshot = await this.#snapshotForUnfinishedTables(pending.length);
    }
    const progress = this.#progress ?? recorded!;
    this.#progress = progress;
    this.#complete = progress.snapshotComplete;
    // Copy sessions import the snapshot before the exporting connection runs anything else.
    const sessions = snapshot && pending.length > 0 ? await this.#openCopySessions(snapshot.name) : [];
    if (snapshot && snapshot.exporter !== this.#o.repl) await snapshot.exporter.end();
    this.#plan = { pending, snapshotLsn: snapshot?.lsn ?? ZERO_LSN, sessions };
    return progress;
  }

  /** Copies what is left, then announces the end of the copy; resolves at once when it was complete already. */
  start(): Promise<void> {
    const { pending, snapshotLsn, sessions } = this.#plan;
    if (pending.length === 0) return this.#complete ? Promise.resolve() : this.#finish();
    const o = this.#o;
    return copyTables(pending, {
      database: o.database,
      topic: o.topic,
      snapshotLsn,
      sessions: [...sessions],
      sink: o.sink,
      partBytes: o.partBytes,
      chunkPages: o.chunkPages,
      log: o.log,
      signal: o.signal,
      onTableDone: (t, rows) => o.progressStore.markTableDone(t.table, snapshotLsn, rows),
    }).then(async () => {
      for (const s of sessions) await s.query('COMMIT');
      await this.#finish();
    });
  }

  /** A slot without progress is from a first run that died before recording anything: nothing was confirmed. */
  async #createSlotAndSendSchema(): Promise<ExportedSnapshot> {
    const { meta, repl, slot, progressStore, log } = this.#o;
    if (await slotExists(meta, slot)) await dropSlot(meta, slot);
    const created = await createSlotWithSnapshot(repl, slot, false);
    log.info('slot created', { slot, lsn: formatLsn(created.consistentPoint) });
    const schema = await dumpSchema(this.#o.schemaUrl, created.snapshotName);
    await progressStore.create(slot, created.consistentPoint, schema.postData);
    this.#progress = (await progressStore.load())!;
    const seq = this.#o.sink.enqueue(this.#o.topic, 0, encodeSnapshotRecord(this.#o.database, { kind: 'schema', snapshotLsn: created.consistentPoint, preData: schema.preData }));
    await waitAcked(this.#o.sink, seq, this.#o.signal);
    await progressStore.markSchemaSent();
    return { lsn: created.consistentPoint, name: created.snapshotName, exporter: repl };
  }

  /** A temporary slot's snapshot: the destination tells the tables copied from it apart by its LSN. */
  async #snapshotForUnfinishedTables(tables: number): Promise<ExportedSnapshot> {
    const tmp = await connect({ ...this.#o.conn, replication: true });
    this.#o.closers.push(() => tmp.end());
    const created = await createSlotWithSnapshot(tmp, `${this.#o.slot}_r${process.pid}_${Date.now() % 1_000_000}`, true);
    this.#o.log.info('resuming initial copy from a new snapshot', { tables, lsn: formatLsn(created.consistentPoint) });
    return { lsn: created.consistentPoint, name: created.snapshotName, exporter: tmp };
  }

  async #openCopySessions(snapshotName: string): Promise<pg.Client[]> {
    const sessions: pg.Client[] = [];
    for (let i = 0; i < Math.max(1, this.#o.copySessions); i++) {
      const s = await connect(this.#o.conn);
      this.#o.closers.push(() => s.end());
      await s.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await s.query(`SET TRANSACTION SNAPSHOT '${snapshotName}'`);
      sessions.push(s);
    }
    return sessions;
  }

  async #finish(): Promise<void> {
    const { sink, topic, database, tables, progressStore, signal, log } = this.#o;
    const progress = this.#progress!;
    if (signal.aborted) throw new AbortedError(); // a stopping task never announces the end of a copy
    const seq = sink.enqueue(topic, 0, encodeSnapshotRecord(database, { kind: 'snapshot-end', snapshotLsn: progress.consistentLsn, postData: progress.postData, tables: tables.map((t) => t.table) }));
    await waitAcked(sink, seq, signal);
    await progressStore.markSnapshotComplete();
    this.#complete = true;
    log.info('initial copy complete', { tables: tables.length });
  }
}
