/**
 * What the leader decides every round, as pure functions (no I/O, no clock): which tasks should exist (one per
 * sync and source database), which workers are alive, and which worker runs which task. The store reads the
 * inputs and applies the plan in one fenced transaction (store.ts runSchedulingRound); the loop that calls it
 * every couple of seconds on the leader is SchedulerLoop in scheduler-loop.ts.
 *
 * Rules:
 * - A worker is alive while its last heartbeat is younger than workerTimeoutMs (15 s), measured on the
 *   database's clock (the same clock that stamped the heartbeat).
 * - An outgoing sync has one `source` task per database of this cluster (templates excluded, new databases
 *   picked up, dropped ones cancelled); an incoming sync has one `destination` task per database named in its
 *   config (`config.databases`, written by the configure flow). Tasks exist only while the sync is active
 *   (initializing, initial-sync, running); `inactive` and `cancelling` syncs get their tasks cancelled, and a
 *   `failed` sync keeps its tasks as they are.
 * - An active task (not failed, not cancelled) whose worker is missing or dead goes to the live worker with the
 *   fewest active tasks (ties: the smaller id), and its epoch is bumped: the new epoch is the fencing token the
 *   worker presents, so the former worker's reports are refused from then on. With no live worker, a dead
 *   worker's task goes back to `pending` with a bumped epoch (fenced at once, reassigned when a worker comes).
 * - A task on a live worker stays there: nothing is moved to balance load (moving a task restarts its slot
 *   streaming or apply; balancing is for later).
 * - A failed task keeps its worker and epoch until an operator resets it.
 */
import { createHash } from 'node:crypto';
import type { SyncRole, TaskKind, TaskState, TaskView } from '../control/v1/cluster.ts';
import type { SyncStatus } from '../control/v1/sync.ts';

export const DEFAULT_WORKER_TIMEOUT_MS = 15_000;

const ACTIVE_SYNC: ReadonlySet<SyncStatus> = new Set(['initializing', 'initial-sync', 'running']);
/** Task states a worker runs (or holds, for failed). */
export const HELD_STATES: readonly TaskState[] = ['assigned', 'running', 'failed'];

export interface PlanWorker {
  readonly id: string;
  /** Milliseconds since the Unix epoch, on the database's clock. */
  readonly lastHeartbeatMs: number;
}

/** What the scheduler needs of a task: the wire view without its report fields. */
export type PlanTask = Pick<TaskView, 'id' | 'syncId' | 'kind' | 'database' | 'workerId' | 'epoch' | 'state'>;

export interface PlanSync {
  readonly id: string;
  readonly role: SyncRole;
  readonly status: SyncStatus;
  /** For incoming syncs: the source databases (from the sync's config); ignored for outgoing syncs. */
  readonly databases: readonly string[];
}

export interface PlanInput {
  /** The database's clock, ms since the Unix epoch. */
  readonly nowMs: number;
  readonly workers: readonly PlanWorker[];
  readonly tasks: readonly PlanTask[];
  readonly syncs: readonly PlanSync[];
  /** Databases of this cluster (not templates): the source databases of outgoing syncs. */
  readonly localDatabases: readonly string[];
}

export interface PlanOptions {
  readonly workerTimeoutMs: number;
}

/** A task to insert, with its final worker, epoch and state. */
export type TaskCreate = PlanTask;

/** A change of an existing task; applied only while its epoch is still `fromEpoch` (compare-and-set). */
export interface TaskUpdate {
  readonly taskId: string;
  readonly fromEpoch: number;
  readonly fromWorkerId: string | null;
  readonly workerId: string | null;
  readonly epoch: number;
  readonly state: TaskState;
  readonly reason: 'assigned' | 'worker-dead' | 'cancelled' | 'reactivated';
}

export interface Plan {
  readonly creates: readonly TaskCreate[];
  readonly updates: readonly TaskUpdate[];
  readonly liveWorkers: readonly string[];
  readonly deadWorkers: readonly string[];
}

/** The deterministic id of the task of (sync, kind, database): safe in a URL path. */
export function taskId(syncId: string, kind: TaskKind, database: string): string {
  const h = createHash('sha256').update(`${syncId}\0${kind}\0${database}`).digest('hex').slice(0, 16);
  return `${kind === 'source' ? 'src' : 'dst'}-${h}`;
}

export function isAlive(w: PlanWorker, nowMs: number, timeoutMs: number): boolean {
  return nowMs - w.lastHeartbeatMs < timeoutMs;
}

function kindOf(role: SyncRole): TaskKind {
  return role === 'outgoing' ? 'source' : 'destination';
}

/** The tasks the syncs call for, as (sync, kind, database), keyed by task id. */
export function wantedTasks(syncs: readonly PlanSync[], localDatabases: readonly string[]): Map<string, { syncId: string; kind: TaskKind; database: string }> {
  const out = new Map<string, { syncId: string; kind: TaskKind; database: string }>();
  for (const s of syncs) {
    if (!ACTIVE_SYNC.has(s.status)) continue;
    const kind = kindOf(s.role);
    const dbs = s.role === 'outgoing' ? localDatabases : s.databases;
    for (const database of [...new Set(dbs)].sort()) out.set(taskId(s.id, kind, database), { syncId: s.id, kind, database });
  }
  return out;
}

/** One scheduling round: reconcile the tasks with the syncs, then give every orphaned task a live worker. */
export function planRound(input: PlanInput, opts: PlanOptions): Plan {
  const live = input.workers.filter((w) => isAlive(w, input.nowMs, opts.workerTimeoutMs)).map((w) => w.id).sort();
  const liveSet = new Set(live);
  const dead = input.workers.filter((w) => !liveSet.has(w.id)).map((w) => w.id).sort();
  const wanted = wantedTasks(input.syncs, input.localDatabases);
  const settled = new Set(input.syncs.filter((s) => s.status === 'failed').map((s) => s.id));

  /** Active tasks per live worker, as the plan goes. */
  const load = new Map<string, number>(live.map((id) => [id, 0]));
  const creates: TaskCreate[] = [];
  const updates: TaskUpdate[] = [];
  const orphans: { task: PlanTask | undefined; create?: { id: string; syncId: string; kind: TaskKind; database: string } }[] = [];

  const tasks = [...input.tasks].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const known = new Set(tasks.map((t) => t.id));
  for (const t of tasks) {
    const isWanted = wanted.has(t.id);
    if (settled.has(t.syncId)) {
      // A failed sync: its tasks stay exactly as they are.
      if (t.workerId !== null && liveSet.has(t.workerId) && t.state !== 'cancelled') load.set(t.workerId, (load.get(t.workerId) ?? 0) + 1);
      continue;
    }
    if (!isWanted) {
      if (t.state !== 'cancelled') updates.push({ taskId: t.id, fromEpoch: t.epoch, fromWorkerId: t.workerId, workerId: null, epoch: t.epoch + 1, state: 'cancelled', reason: 'cancelled' });
      continue;
    }
    if (t.state === 'cancelled') {
      if (isWanted) orphans.push({ task: t });
      continue;
    }
    if (t.state === 'failed') {
      if (t.workerId !== null && liveSet.has(t.workerId)) load.set(t.workerId, (load.get(t.workerId) ?? 0) + 1);
      continue;
    }
    if (t.workerId !== null && liveSet.has(t.workerId)) {
      load.set(t.workerId, (load.get(t.workerId) ?? 0) + 1);
      continue;
    }
    orphans.push({ task: t });
  }
  for (const [id, w] of wanted) if (!known.has(id)) orphans.push({ task: undefined, create: { id, ...w } });

  const leastLoaded = (): string | undefined => {
    let best: string | undefined;
    for (const id of live) if (best === undefined || (load.get(id) ?? 0) < (load.get(best) ?? 0)) best = id;
    return best;
  };

  for (const o of orphans) {
    const to = leastLoaded();
    if (to !== undefined) load.set(to, (load.get(to) ?? 0) + 1);
    if (o.create) {
      creates.push({ ...o.create, workerId: to ?? null, epoch: to === undefined ? 0 : 1, state: to === undefined ? 'pending' : 'assigned' });
      continue;
    }
    const t = o.task!;
    if (to === undefined) {
      // Nobody can take it: fence the dead worker now (bumped epoch), keep waiting for a worker.
      if (t.workerId !== null || t.state !== 'pending') {
        updates.push({ taskId: t.id, fromEpoch: t.epoch, fromWorkerId: t.workerId, workerId: null, epoch: t.epoch + 1, state: 'pending', reason: t.state === 'cancelled' ? 'reactivated' : 'worker-dead' });
      }
      continue;
    }
    const reason = t.state === 'cancelled' ? 'reactivated' : t.workerId !== null ? 'worker-dead' : 'assigned';
    updates.push({ taskId: t.id, fromEpoch: t.epoch, fromWorkerId: t.workerId, workerId: to, epoch: t.epoch + 1, state: 'assigned', reason });
  }
  return { creates, updates, liveWorkers: live, deadWorkers: dead };
}
