/**
 * The worker's reconcile decision, as a pure function: what it runs now and what the leader's latest heartbeat
 * answer assigns → which tasks to start and which to stop. A task is identified by its id; its epoch is the
 * fencing token of this assignment, so a changed epoch means "stop the old run, start a new one".
 */
import type { TaskAssignment } from '../control/v1/cluster.ts';

/** A task the worker runs, as reconcile sees it. */
export interface RunningTask {
  readonly taskId: string;
  readonly epoch: number;
}

export interface ReconcilePlan {
  /** Assignments to start (new ones, and those whose epoch changed: their old run is in `stop`). */
  readonly start: readonly TaskAssignment[];
  /** Task ids to stop (no longer assigned, epoch changed, or assigned in a state a worker must not run). */
  readonly stop: readonly string[];
}

/** States of an assignment the worker runs (a `failed` task keeps its worker but is not restarted until reset). */
const RUNNABLE = new Set<string>(['assigned', 'running']);

export function reconcile(current: readonly RunningTask[], assignments: readonly TaskAssignment[]): ReconcilePlan {
  const wanted = new Map<string, TaskAssignment>();
  for (const a of assignments) if (RUNNABLE.has(a.state)) wanted.set(a.taskId, a);
  const running = new Map<string, RunningTask>();
  for (const t of current) running.set(t.taskId, t);
  const stop: string[] = [];
  for (const t of running.values()) {
    const a = wanted.get(t.taskId);
    if (!a || a.epoch !== t.epoch) stop.push(t.taskId);
  }
  const start: TaskAssignment[] = [];
  for (const a of wanted.values()) {
    const t = running.get(a.taskId);
    if (!t || t.epoch !== a.epoch) start.push(a);
  }
  stop.sort();
  start.sort((x, y) => (x.taskId < y.taskId ? -1 : x.taskId > y.taskId ? 1 : 0));
  return { start, stop };
}
