/**
 * The master's routes (under /_api/v1; contract.ts has the shapes, docs/master.md the reference).
 *
 * - public:   GET /health, GET /version (built into ControlServer), GET /leader (from this master's view of the
 *             lease, no database access).
 * - operator: GET /masters, /workers, /tasks. Any master answers them from the datacenter's PostgreSQL, where all
 *             the state lives: a read needs no leader, so operators keep their answers while a failover runs.
 * - worker:   POST /workers/register, /workers/:id/heartbeat, /tasks/:id/status. The leader handles them;
 *             a follower forwards them to the leader (forward.ts), or answers 503 naming the leader when it
 *             cannot. A token whose `sub` is not the generic 'worker' may act only for the worker of that id.
 */
import { HttpError } from '../control/errors.ts';
import { formatPath, route, type HttpMethod, type Route, type RouteRequest, type RouteResponse } from '../control/router.ts';
import {
  FORWARDED_QUERY,
  MASTER_PATHS,
  parseHeartbeatRequest,
  parseRegisterWorkerRequest,
  parseTaskStatusRequest,
  type HeartbeatResponse,
  type LeaderResponse,
  type LeaderView,
  type MastersResponse,
  type RegisterWorkerResponse,
  type TaskAssignment,
  type TaskStatusResponse,
  type TaskView,
  type TasksResponse,
  type WorkerView,
  type WorkersResponse,
} from '../control/v1/cluster.ts';
import type { LeaderElection } from './election.ts';
import { noLeader, type LeaderForwarder } from './forward.ts';
import type { SchedulerLoop } from './scheduler-loop.ts';
import type { AssignmentRow, LeaseRow, MasterStore, TaskRow, WorkerRow } from './store.ts';
import { parseSyncSettings, type SyncSettings } from '../control/v1/sync.ts';

export interface MasterApiDeps {
  readonly store: MasterStore;
  readonly election: LeaderElection;
  readonly scheduler: SchedulerLoop;
  readonly forwarder: LeaderForwarder;
  readonly self: { readonly id: string; readonly endpoint: string; readonly version: string };
  readonly datacenter: string;
  readonly workerTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** A master whose row is older than this is shown as not alive. */
  readonly masterAliveMs: number;
  readonly mq: { readonly type: string; readonly kafkaAddr: readonly string[] };
}

/** The generic subject of worker tokens that do not name a worker. */
const ANY_WORKER = 'worker';

function iso(d: Date): string {
  return d.toISOString();
}

function leaderView(lease: LeaseRow): LeaderView | null {
  if (lease.holder === null || lease.endpoint === null || lease.remainingMs <= 0 || lease.expiresAt === null) return null;
  return { id: lease.holder, endpoint: lease.endpoint, epoch: lease.epoch, expiresAt: iso(lease.expiresAt) };
}

export function taskView(t: TaskRow): TaskView {
  return {
    id: t.id,
    syncId: t.syncId,
    kind: t.kind,
    database: t.database,
    workerId: t.workerId,
    epoch: t.epoch,
    state: t.state,
    error: t.error,
    progress: t.progress,
    updatedAt: iso(t.updatedAt),
  };
}

function workerView(w: WorkerRow, timeoutMs: number): WorkerView {
  return {
    id: w.id,
    endpoint: w.endpoint,
    datacenter: w.datacenter,
    version: w.version,
    registeredAt: iso(w.registeredAt),
    lastHeartbeat: iso(w.lastHeartbeat),
    alive: w.ageMs < timeoutMs,
    tasks: w.tasks,
  };
}

function assignment(t: AssignmentRow): TaskAssignment {
  let settings: SyncSettings | undefined;
  try {
    settings = t.settings === null || t.settings === undefined ? undefined : parseSyncSettings(t.settings);
  } catch {
    settings = undefined; // stored by an older master: the worker's flags apply
  }
  return { taskId: t.id, syncId: t.syncId, kind: t.kind, database: t.database, epoch: t.epoch, state: t.state, run: t.run, ...(settings ? { settings } : {}), ...(t.recordKey ? { recordKey: t.recordKey } : {}) };
}

function checkSubject(req: RouteRequest<unknown, unknown>, workerId: string): void {
  const sub = req.auth.subject;
  if (sub !== ANY_WORKER && sub !== workerId) throw new HttpError(403, 'forbidden', `this token is for worker '${sub}', not '${workerId}'`);
}

/**
 * Runs `handler` on the leader; on a follower, forwards the request to the leader (or answers 503 naming it).
 * `path` rebuilds the request's path for forwarding.
 */
function onLeader<P, B>(
  d: MasterApiDeps,
  method: HttpMethod,
  path: (req: RouteRequest<P, B>) => string,
  handler: (req: RouteRequest<P, B>, epoch: number) => Promise<RouteResponse>,
): (req: RouteRequest<P, B>) => Promise<RouteResponse> {
  return async (req) => {
    const epoch = d.election.leaderEpoch;
    if (epoch !== undefined) return handler(req, epoch);
    const leader = d.election.knownLeader;
    if (!leader || leader.id === d.self.id) return noLeader('no master leads right now; try again shortly', undefined);
    if (req.query[FORWARDED_QUERY] !== undefined) return noLeader(`this master does not lead; the leader is ${leader.endpoint}`, leader);
    return d.forwarder.forward(leader, { method, path: path(req), body: req.body, subject: req.auth.subject, signal: req.signal });
  };
}

export function masterRoutes(d: MasterApiDeps): Route[] {
  return [
    route({
      method: 'GET',
      path: MASTER_PATHS.leader,
      access: 'public',
      summary: 'which master leads (as this master last saw the lease)',
      handler: async () => {
        const k = d.election.knownLeader;
        const body: LeaderResponse = {
          leader: k ? { id: k.id, endpoint: k.endpoint, epoch: k.epoch, expiresAt: k.expiresAt ? iso(k.expiresAt) : '' } : null,
          self: { id: d.self.id, endpoint: d.self.endpoint, role: d.election.state },
        };
        return { status: 200, body };
      },
    }),
    route({
      method: 'GET',
      path: MASTER_PATHS.masters,
      access: 'operator',
      summary: 'the masters of this datacenter and which one leads',
      handler: async () => {
        const { masters, lease } = await d.store.listMasters();
        const leader = leaderView(lease);
        const body: MastersResponse = {
          leader,
          masters: masters.map((m) => ({
            id: m.id,
            endpoint: m.endpoint,
            role: leader?.id === m.id ? 'leader' : 'follower',
            alive: m.ageMs < d.masterAliveMs,
            lastSeen: iso(m.lastSeen),
            startedAt: iso(m.startedAt),
            version: m.version,
          })),
          answeredBy: d.self.id,
        };
        return { status: 200, body };
      },
    }),
    route({
      method: 'GET',
      path: MASTER_PATHS.workers,
      access: 'operator',
      summary: 'registered workers, their liveness and task counts',
      handler: async () => {
        const body: WorkersResponse = { workers: (await d.store.listWorkers()).map((w) => workerView(w, d.workerTimeoutMs)), answeredBy: d.self.id };
        return { status: 200, body };
      },
    }),
    route({
      method: 'GET',
      path: MASTER_PATHS.tasks,
      access: 'operator',
      summary: 'tasks with their worker, epoch, state and progress (?sync=ID, ?worker=ID)',
      handler: async (req) => {
        const syncId = req.query['sync'];
        const workerId = req.query['worker'];
        const tasks = await d.store.listTasks({ ...(syncId ? { syncId } : {}), ...(workerId ? { workerId } : {}) });
        const body: TasksResponse = { tasks: tasks.map(taskView), answeredBy: d.self.id };
        return { status: 200, body };
      },
    }),
    route({
      method: 'POST',
      path: MASTER_PATHS.registerWorker,
      access: 'worker',
      body: parseRegisterWorkerRequest,
      summary: 'a worker announces itself (again after a restart)',
      handler: onLeader(
        d,
        'POST',
        () => MASTER_PATHS.registerWorker,
        async (req) => {
          const w = req.body;
          checkSubject(req, w.id);
          if (w.datacenter !== d.datacenter) throw new HttpError(400, 'bad-request', `this is datacenter '${d.datacenter}', not '${w.datacenter}'`);
          const row = await d.store.registerWorker({ id: w.id, endpoint: w.endpoint, datacenter: w.datacenter, version: w.version ?? '' });
          d.scheduler.poke();
          const body: RegisterWorkerResponse = {
            worker: workerView(row, d.workerTimeoutMs),
            heartbeatIntervalMs: d.heartbeatIntervalMs,
            workerTimeoutMs: d.workerTimeoutMs,
            mq: { type: d.mq.type, kafkaAddr: d.mq.kafkaAddr },
          };
          return { status: 200, body };
        },
      ),
    }),
    route({
      method: 'POST',
      path: MASTER_PATHS.heartbeat,
      access: 'worker',
      // No body validator: the server would then insist on a body, and a heartbeat may come without one.
      summary: "a worker's heartbeat; answers with the tasks it must run and their epochs",
      handler: onLeader(
        d,
        'POST',
        (req) => formatPath(MASTER_PATHS.heartbeat, { id: req.params.id }),
        async (req) => {
          const id = req.params.id;
          checkSubject(req, id);
          const hb = parseHeartbeatRequest(req.body);
          if (!(await d.store.heartbeat(id, hb.version, hb.warnings))) throw new HttpError(404, 'not-found', `worker '${id}' is not registered: register first`);
          const body: HeartbeatResponse = {
            assignments: (await d.store.assignmentsOf(id)).map(assignment),
            heartbeatIntervalMs: d.heartbeatIntervalMs,
            workerTimeoutMs: d.workerTimeoutMs,
          };
          return { status: 200, body };
        },
      ),
    }),
    route({
      method: 'POST',
      path: MASTER_PATHS.taskStatus,
      access: 'worker',
      body: parseTaskStatusRequest,
      summary: "a worker reports a task's state, error and progress, with the task's epoch (409 when stale)",
      handler: onLeader(
        d,
        'POST',
        (req) => formatPath(MASTER_PATHS.taskStatus, { id: req.params.id }),
        async (req) => {
          const r = req.body;
          checkSubject(req, r.workerId);
          const outcome = await d.store.reportTask(req.params.id, r);
          if (outcome.kind === 'not-found') throw new HttpError(404, 'not-found', `no task '${req.params.id}'`);
          if (outcome.kind === 'stale') {
            const t = outcome.task;
            throw new HttpError(409, 'conflict', `task '${t.id}' is at epoch ${t.epoch} on ${t.workerId === null ? 'no worker' : `worker '${t.workerId}'`} (${t.state}); the report of worker '${r.workerId}' with epoch ${r.epoch} is stale`);
          }
          const body: TaskStatusResponse = { task: taskView(outcome.task) };
          return { status: 200, body };
        },
      ),
    }),
  ];
}
