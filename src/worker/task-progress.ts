/**
 * What a worker reports about its tasks (progress documents of control/v1/sync.ts): the source task tells its
 * position through a callback, and the source's PostgreSQL tells its slot and current WAL position; a destination
 * task's progress is read from the state it keeps in the target database (target-state.ts), so the report shows
 * exactly what is durable there.
 */
import { applicationsReadOnly } from '../postgres/read-only.ts';
import type { Admin, Kafka } from 'kafkajs';
import type pg from 'pg';
import { formatLsn, parseLsn } from '../core/lsn.ts';
import { appliedPoint, type PartitionPosition } from './applied-point.ts';
import type { DestinationProgress, DestinationTableProgress, SourceProgress } from '../control/v1/sync.ts';
import { connect } from '../postgres/connection.ts';
import { slotName, type SourceTaskProgress } from '../source/source-task.ts';

/** Bounds the report (a database with thousands of tables): the rest is counted in `tablesOmitted`. */
const MAX_TABLES = 1000;

export function sourceProgress(p: SourceTaskProgress): SourceProgress {
  return {
    kind: 'source',
    snapshotComplete: p.snapshotComplete,
    lastDataLsn: p.lastData ? formatLsn(p.lastData.lsn) : null,
    lastDataTime: p.lastData ? new Date(Number(p.lastData.commitTimeUs / 1000n)).toISOString() : null,
    flushedLsn: formatLsn(p.flushedLsn),
    walLsn: null,
    slot: null,
    slotConfirmedLsn: null,
    retainedWalBytes: null,
    updatedAt: new Date().toISOString(),
  };
}

function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return (v instanceof Date ? v : new Date(String(v))).toISOString();
}

export async function queryDestinationProgress(c: pg.ClientBase, stream: string, ends?: () => Promise<ReadonlyMap<number, bigint> | undefined>): Promise<DestinationProgress | undefined> {
  const exists = await c.query<{ ok: boolean }>(`SELECT to_regclass('dcsync.applied_position') IS NOT NULL AS ok`);
  if (!exists.rows[0]?.ok) return undefined;
  const sync = await c.query<{ snapshot_complete: boolean }>(`SELECT snapshot_complete FROM dcsync.target_sync WHERE sync_id = $1`, [stream]);
  if (sync.rows.length === 0) return undefined;
  const tables = await c.query<{ schema_name: string; table_name: string; status: DestinationTableProgress['status']; rows_copied: string; rows_total: string; error: string | null; n: string }>(
    `SELECT schema_name, table_name, status, rows_copied, rows_total, error, count(*) OVER () AS n
       FROM dcsync.target_tables WHERE sync_id = $1 ORDER BY (status = 'failed') DESC, schema_name, table_name LIMIT ${MAX_TABLES}`,
    [stream],
  );
  const pos = await c.query<{ partition: number; lsn: string; commit_time: Date | null; kafka_offset: string | null; applied_at: Date }>(
    `SELECT partition, lsn::text, commit_time, kafka_offset::text, applied_at FROM dcsync.applied_position WHERE sync_id = $1`,
    [stream],
  );
  const rows: PartitionPosition[] = pos.rows.map((r) => ({ partition: r.partition, lsn: parseLsn(r.lsn), commitTime: r.commit_time, nextOffset: r.kafka_offset === null ? null : BigInt(r.kafka_offset) }));
  const point = appliedPoint(rows, rows.length > 0 && ends ? await ends() : undefined);
  const lastAppliedAt = pos.rows.reduce<Date | null>((a, r) => (a === null || r.applied_at > a ? r.applied_at : a), null);
  const total = Number(tables.rows[0]?.n ?? 0);
  const readOnly = await applicationsReadOnly(c);
  return {
    kind: 'destination',
    snapshotComplete: sync.rows[0]!.snapshot_complete,
    readOnly,
    appliedLsn: point ? formatLsn(point.lsn) : null,
    appliedCommitTime: iso(point?.commitTime),
    lastAppliedAt: iso(lastAppliedAt),
    tables: tables.rows.map((t) => ({ schema: t.schema_name, name: t.table_name, status: t.status, rowsCopied: Number(t.rows_copied), rowsTotal: Number(t.rows_total), error: t.error })),
    tablesOmitted: Math.max(0, total - tables.rows.length),
    updatedAt: new Date().toISOString(),
  };
}

/** The end offset (high watermark) of each partition of a topic, through one kept admin connection. */
export class TopicEnds {
  #admin: Admin | undefined;
  #closed = false;

  constructor(private readonly o: { kafka: Kafka; topic: string }) {}

  /** undefined when Kafka cannot tell now (the caller then counts every partition). */
  async read(): Promise<ReadonlyMap<number, bigint> | undefined> {
    if (this.#closed) return undefined;
    try {
      if (!this.#admin) {
        const admin = this.o.kafka.admin();
        await admin.connect();
        this.#admin = admin;
      }
      const offsets = await this.#admin.fetchTopicOffsets(this.o.topic);
      return new Map(offsets.map((x) => [x.partition, BigInt(x.high)]));
    } catch {
      await this.#drop();
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#drop();
  }

  async #drop(): Promise<void> {
    const a = this.#admin;
    this.#admin = undefined;
    await a?.disconnect().catch(() => {});
  }
}

/**
 * One connection to a database kept between reads: opened on first use, dropped after an error and opened again next
 * time; undefined while the database does not exist yet or after close().
 */
class KeptClient {
  #client: pg.Client | undefined;
  #closed = false;

  constructor(private readonly o: { url: string; database: string; applicationName: string }) {}

  async use<T>(fn: (c: pg.Client) => Promise<T>): Promise<T | undefined> {
    if (this.#closed) return undefined;
    if (!this.#client) {
      let c: pg.Client;
      try {
        c = await connect({ url: this.o.url, database: this.o.database, applicationName: this.o.applicationName });
      } catch (err) {
        if ((err as { code?: string }).code === '3D000') return undefined; // the database is not created yet
        throw err;
      }
      if (this.#closed) {
        await c.end().catch(() => {});
        return undefined;
      }
      this.#client = c;
    }
    try {
      return await fn(this.#client);
    } catch (err) {
      await this.#drop();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#drop();
  }

  async #drop(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    await c?.end().catch(() => {});
  }
}

/** Reads a destination task's progress from its target database every few seconds over one kept connection. */
export class DestinationProgressProbe {
  readonly #client: KeptClient;

  /** `ends`: the changes topic's end offsets, to tell which partitions still have records to apply. */
  constructor(private readonly o: { url: string; database: string; stream: string; ends?: TopicEnds }) {
    this.#client = new KeptClient({ url: o.url, database: o.database, applicationName: 'dcsync-worker-progress' });
  }

  /** undefined while the target database or its state does not exist yet. */
  async read(): Promise<DestinationProgress | undefined> {
    const ends = this.o.ends;
    return this.#client.use((c) => queryDestinationProgress(c, this.o.stream, ends && (() => ends.read())));
  }

  /** The task ended: the connections are closed and no other is opened. */
  async close(): Promise<void> {
    await Promise.all([this.#client.close(), this.o.ends?.close()]);
  }
}

/** What the source's PostgreSQL tells about a source task's slot (the part of SourceProgress the task cannot know). */
export type SlotFacts = Pick<SourceProgress, 'walLsn' | 'slot' | 'slotConfirmedLsn' | 'retainedWalBytes'>;

/**
 * Reads the source's current WAL position and the task's slot (what it confirmed, how much WAL it retains) over
 * one kept connection to the source database: WAL the source task has not read yet counts as lag, and a slot that
 * retains ever more WAL fills the source's disk.
 */
export class SourceSlotProbe {
  readonly #client: KeptClient;
  #slot: string | undefined;

  constructor(private readonly o: { url: string; database: string; stream: string }) {
    this.#client = new KeptClient({ url: o.url, database: o.database, applicationName: 'dcsync-worker-progress' });
  }

  async read(): Promise<SlotFacts | undefined> {
    return this.#client.use(async (c) => {
      if (this.#slot === undefined) {
        const db = await c.query<{ oid: number }>(`SELECT oid::int AS oid FROM pg_database WHERE datname = current_database()`);
        this.#slot = slotName(this.o.stream, db.rows[0]!.oid);
      }
      const r = await c.query<{ wal: string; confirmed: string | null; retained: string | null }>(
        `SELECT pg_current_wal_lsn()::text AS wal,
                (SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1) AS confirmed,
                (SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text FROM pg_replication_slots WHERE slot_name = $1) AS retained`,
        [this.#slot],
      );
      const row = r.rows[0]!;
      return { walLsn: row.wal, slot: this.#slot, slotConfirmedLsn: row.confirmed, retainedWalBytes: row.retained === null ? null : Math.max(0, Number(row.retained)) };
    });
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}
