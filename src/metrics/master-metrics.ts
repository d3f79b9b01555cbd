/**
 * A master's metrics, read from the status (`GET /status`, the one source of lag and progress) once per scrape,
 * plus whether this master leads. Every master answers: the status comes from the datacenter's PostgreSQL.
 *
 * The incoming sync's lag, copy progress and failures are this (destination) datacenter's view; the slots and
 * their retained WAL belong to outgoing syncs and show on the source datacenter's masters. Task counts are of
 * this datacenter's tasks only (destination tasks of the incoming sync, source tasks of outgoing ones), so adding
 * both datacenters counts each task once.
 */
import { Gauge, type Registry } from 'prom-client';
import { TASK_STATES, type TaskState } from '../control/v1/cluster.ts';
import { SYNC_STATUSES, type StatusResponse, type TableStatus } from '../control/v1/sync.ts';
import { daemonRegistry } from './registry.ts';

const TABLE_STATUSES: readonly TableStatus[] = ['waiting', 'copying', 'copied', 'running', 'failed', 'inactive'];

export interface MasterMetricsOptions {
  readonly readStatus: (signal: AbortSignal) => Promise<StatusResponse>;
  readonly isLeader: () => boolean;
  /** This master's datacenter (--datacenter): one Prometheus scrapes both, and each must have a leader. */
  readonly datacenter: string;
  readonly version: string;
}

export class MasterMetrics {
  readonly registry: Registry;
  readonly #o: MasterMetricsOptions;
  readonly #leader: Gauge;
  readonly #statusUp: Gauge;
  readonly #syncStatus: Gauge;
  readonly #lagSeconds: Gauge;
  readonly #lagBytes: Gauge;
  readonly #lastApplied: Gauge;
  readonly #databaseFailed: Gauge;
  readonly #tables: Gauge;
  readonly #tableFailed: Gauge;
  readonly #rowsCopied: Gauge;
  readonly #rowsTotal: Gauge;
  readonly #tasks: Gauge;
  readonly #retained: Gauge;
  readonly #appWrites: Gauge;

  constructor(o: MasterMetricsOptions) {
    this.#o = o;
    const registry = daemonRegistry('master', o.version);
    this.registry = registry;
    const gauge = (name: string, help: string, labelNames: readonly string[] = []): Gauge => new Gauge({ name, help, labelNames, registers: [registry] });
    this.#leader = gauge('dcsync_master_leader', '1 while this master leads its datacenter, else 0', ['datacenter']);
    this.#statusUp = gauge('dcsync_status_up', '1 when this scrape could read the sync status from PostgreSQL, else 0 (the other dcsync_ families of the status are then absent)');
    this.#syncStatus = gauge('dcsync_sync_status', '1 for the status a sync is in, 0 for the others', ['sync', 'role', 'status']);
    this.#lagSeconds = gauge('dcsync_lag_seconds', "Replication lag of a database in seconds: source commit time of the last read transaction − that of the destination's applied point (its lagging partition)", ['sync', 'database']);
    this.#lagBytes = gauge('dcsync_lag_bytes', "Replication lag of a database in bytes of source WAL: read but not applied, plus not yet read by the source (the slot's confirmed position vs pg_current_wal_lsn)", ['sync', 'database']);
    this.#lastApplied = gauge('dcsync_last_applied_timestamp_seconds', 'When the destination last applied anything to a database (Unix time, the target clock)', ['sync', 'database']);
    this.#databaseFailed = gauge('dcsync_database_failed', '1 while the source or destination task of a database has failed, else 0', ['sync', 'database']);
    this.#tables = gauge('dcsync_tables', 'Tables of a database in each status', ['sync', 'database', 'status']);
    this.#tableFailed = gauge('dcsync_table_failed', '1 while a table has failed (its replication stopped), else 0', ['sync', 'database', 'table']);
    this.#rowsCopied = gauge('dcsync_table_rows_copied', 'Rows of a table copied by the initial copy', ['sync', 'database', 'table']);
    this.#rowsTotal = gauge('dcsync_table_rows_total', "Rows of a table to copy (the source's estimate, at least the rows copied)", ['sync', 'database', 'table']);
    this.#tasks = gauge('dcsync_tasks', "This datacenter's tasks in each state (destination tasks of the incoming sync, source tasks of outgoing syncs)", ['kind', 'state']);
    this.#appWrites = gauge('dcsync_database_app_writes_allowed', "1 while applications may write to a database that this datacenter receives (its replica would diverge), 0 while they are refused", ['sync', 'database']);
    this.#retained = gauge('dcsync_slot_retained_wal_bytes', 'Source WAL a replication slot keeps from being recycled (pg_current_wal_lsn − restart_lsn), in bytes', ['sync', 'database', 'slot']);
  }

  /** Reads the status and sets every gauge from it; on a failed read only the leader and dcsync_status_up remain. */
  async refresh(signal: AbortSignal): Promise<void> {
    this.#leader.set({ datacenter: this.#o.datacenter }, this.#o.isLeader() ? 1 : 0);
    let status: StatusResponse;
    try {
      status = await this.#o.readStatus(signal);
    } catch {
      this.#clear();
      this.#statusUp.set(0);
      return;
    }
    this.#clear();
    this.#statusUp.set(1);
    this.#fromStatus(status);
  }

  #clear(): void {
    for (const g of [this.#syncStatus, this.#lagSeconds, this.#lagBytes, this.#lastApplied, this.#databaseFailed, this.#tables, this.#tableFailed, this.#rowsCopied, this.#rowsTotal, this.#tasks, this.#retained, this.#appWrites]) g.reset();
  }

  #fromStatus(s: StatusResponse): void {
    const tasks = new Map<string, number>();
    const countTask = (kind: 'source' | 'destination', state: TaskState): void => {
      tasks.set(`${kind}|${state}`, (tasks.get(`${kind}|${state}`) ?? 0) + 1);
    };
    if (s.sync) {
      const sync = s.sync.id;
      for (const st of SYNC_STATUSES) this.#syncStatus.set({ sync, role: 'incoming', status: st }, st === s.status ? 1 : 0);
      for (const d of s.databases) {
        const l = { sync, database: d.database };
        if (d.lagSeconds !== null) this.#lagSeconds.set(l, d.lagSeconds);
        if (d.lagBytes !== null) this.#lagBytes.set(l, d.lagBytes);
        if (d.lastMessageTime !== null) this.#lastApplied.set(l, Date.parse(d.lastMessageTime) / 1000);
        this.#databaseFailed.set(l, d.status === 'failed' ? 1 : 0);
        if (d.readOnly !== null) this.#appWrites.set(l, d.readOnly ? 0 : 1);
        if (d.destinationTask) countTask('destination', d.destinationTask.state);
        const counts = new Map<TableStatus, number>(TABLE_STATUSES.map((t) => [t, 0]));
        for (const t of s.tables) if (t.database === d.database) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
        for (const [status, n] of counts) this.#tables.set({ ...l, status }, n);
      }
      for (const t of s.tables) {
        const l = { sync, database: t.database, table: t.table };
        this.#tableFailed.set(l, t.status === 'failed' ? 1 : 0);
        this.#rowsCopied.set(l, t.rowsCopied);
        this.#rowsTotal.set(l, t.rowsTotal);
      }
    }
    for (const o of s.outgoing) {
      for (const st of SYNC_STATUSES) this.#syncStatus.set({ sync: o.id, role: 'outgoing', status: st }, st === o.status ? 1 : 0);
      for (const d of o.databases) {
        countTask('source', d.state);
        if (d.slot !== null && d.retainedWalBytes !== null) this.#retained.set({ sync: o.id, database: d.database, slot: d.slot }, d.retainedWalBytes);
      }
    }
    for (const kind of ['source', 'destination'] as const) for (const state of TASK_STATES) this.#tasks.set({ kind, state }, tasks.get(`${kind}|${state}`) ?? 0);
  }
}
