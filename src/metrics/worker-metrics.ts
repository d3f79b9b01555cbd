/**
 * A worker's metrics about the tasks it runs: what its destination tasks applied, how far its source tasks' slots
 * were confirmed, restarts and failures (counters, since this process started), and its tasks by state.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { TaskKind } from '../control/v1/cluster.ts';
import { daemonRegistry } from './registry.ts';

/** A running task as the worker sees it: `retrying` between a failed attempt and the next. */
export type WorkerTaskState = 'running' | 'retrying' | 'failed';
const WORKER_TASK_STATES: readonly WorkerTaskState[] = ['running', 'retrying', 'failed'];

export class WorkerMetrics {
  readonly registry: Registry;
  readonly #changes: Counter;
  readonly #appliedBytes: Counter;
  readonly #confirmedBytes: Counter;
  readonly #restarts: Counter;
  readonly #failures: Counter;
  readonly #tasks: Gauge;
  readonly #tasksNow: () => readonly { kind: TaskKind; state: WorkerTaskState }[];

  constructor(o: { version: string; tasks: () => readonly { kind: TaskKind; state: WorkerTaskState }[] }) {
    const registry = daemonRegistry('worker', o.version);
    this.registry = registry;
    this.#tasksNow = o.tasks;
    const counter = (name: string, help: string, labelNames: readonly string[]): Counter => new Counter({ name, help, labelNames, registers: [registry] });
    this.#changes = counter('dcsync_worker_changes_applied_total', 'Row changes the destination tasks of this worker applied', ['database']);
    this.#appliedBytes = counter('dcsync_worker_applied_wal_bytes_total', "Source WAL bytes the destination tasks' applied positions advanced over", ['database']);
    this.#confirmedBytes = counter('dcsync_worker_source_confirmed_wal_bytes_total', "Source WAL bytes the source tasks' slots were confirmed over (durable in Kafka)", ['database']);
    this.#restarts = counter('dcsync_worker_task_restarts_total', 'Attempts of a task that failed with a retriable error and were started again', ['kind', 'database']);
    this.#failures = counter('dcsync_worker_task_failures_total', 'Tasks that failed for good (a fatal error or their retries used up)', ['kind', 'database']);
    this.#tasks = new Gauge({ name: 'dcsync_worker_tasks', help: 'Tasks this worker runs, by state', labelNames: ['kind', 'state'], registers: [registry] });
  }

  async refresh(): Promise<void> {
    const counts = new Map<string, number>();
    for (const t of this.#tasksNow()) counts.set(`${t.kind}|${t.state}`, (counts.get(`${t.kind}|${t.state}`) ?? 0) + 1);
    for (const kind of ['source', 'destination'] as const) for (const state of WORKER_TASK_STATES) this.#tasks.set({ kind, state }, counts.get(`${kind}|${state}`) ?? 0);
  }

  applied(database: string, changes: number, walBytes: number): void {
    if (changes > 0) this.#changes.inc({ database }, changes);
    if (walBytes > 0) this.#appliedBytes.inc({ database }, walBytes);
  }

  confirmed(database: string, walBytes: number): void {
    if (walBytes > 0) this.#confirmedBytes.inc({ database }, walBytes);
  }

  restarted(kind: TaskKind, database: string): void {
    this.#restarts.inc({ kind, database });
  }

  failed(kind: TaskKind, database: string): void {
    this.#failures.inc({ kind, database });
  }
}
