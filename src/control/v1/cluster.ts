/**
 * The sync master's HTTPS API (v1) as seen from the outside: paths, request and answer shapes, and the
 * validators that check bodies on both ends. The CLI (`dcsync get …`) and the worker build on this file only,
 * never on the daemon's internals. Paths are relative to API_PREFIX (/_api/v1); see docs/master.md.
 */
import { badRequest } from '../errors.ts';
import type { SyncSettings } from './settings.ts';

/** Paths of the master's routes, for `route()` on the server and `formatPath()` on the client. */
export const MASTER_PATHS = {
  /** public: which master leads (no credentials needed, as /health and /version). */
  leader: '/leader',
  /** operator */
  masters: '/masters',
  workers: '/workers',
  tasks: '/tasks',
  /** worker (JWT) */
  registerWorker: '/workers/register',
  heartbeat: '/workers/:id/heartbeat',
  taskStatus: '/tasks/:id/status',
} as const;

/** Query parameter a follower adds when it forwards a request to the leader (so the leader never forwards it again). */
export const FORWARDED_QUERY = 'forwarded-by';

/** How a task stands. `pending`: no worker; `assigned`: given to a worker that has not reported yet; `running`: the worker reported it runs; `failed`: the worker reported an error retrying cannot fix (stays until reset); `cancelled`: its sync ended or its database is gone. */
export type TaskState = 'pending' | 'assigned' | 'running' | 'failed' | 'cancelled';
export const TASK_STATES: readonly TaskState[] = ['pending', 'assigned', 'running', 'failed', 'cancelled'];

/** What a worker may report about a task it holds. */
export type ReportedTaskState = 'running' | 'failed';

export type TaskKind = 'source' | 'destination';
export type SyncRole = 'incoming' | 'outgoing';

export interface LeaderView {
  readonly id: string;
  readonly endpoint: string;
  /** The lease epoch: the fencing token of this leadership. */
  readonly epoch: number;
  /** ISO time the lease expires unless renewed (the database's clock). */
  readonly expiresAt: string;
}

/** GET /leader */
export interface LeaderResponse {
  readonly leader: LeaderView | null;
  /** The master that answered. */
  readonly self: { readonly id: string; readonly endpoint: string; readonly role: 'leader' | 'follower' | 'stopped' };
}

export interface MasterView {
  readonly id: string;
  readonly endpoint: string;
  readonly role: 'leader' | 'follower';
  /** Seen within the last few seconds (it updates its row every 2 s). */
  readonly alive: boolean;
  readonly lastSeen: string;
  readonly startedAt: string;
  readonly version: string;
}

/** GET /masters */
export interface MastersResponse {
  readonly leader: LeaderView | null;
  readonly masters: readonly MasterView[];
  /** The master that answered (any master answers reads from the datacenter's PostgreSQL). */
  readonly answeredBy: string;
}

export interface WorkerView {
  readonly id: string;
  readonly endpoint: string;
  readonly datacenter: string;
  readonly version: string;
  readonly registeredAt: string;
  readonly lastHeartbeat: string;
  /** Heartbeat younger than the worker timeout (15 s). */
  readonly alive: boolean;
  /** Tasks assigned to it (pending, cancelled excluded). */
  readonly tasks: number;
}

/** GET /workers */
export interface WorkersResponse {
  readonly workers: readonly WorkerView[];
  readonly answeredBy: string;
}

export interface TaskView {
  readonly id: string;
  readonly syncId: string;
  readonly kind: TaskKind;
  readonly database: string;
  readonly workerId: string | null;
  /** Bumped at every (re)assignment: the fencing token the worker presents with its reports. */
  readonly epoch: number;
  readonly state: TaskState;
  readonly error: string | null;
  readonly progress: Readonly<Record<string, unknown>>;
  readonly updatedAt: string;
}

/** GET /tasks[?sync=ID] */
export interface TasksResponse {
  readonly tasks: readonly TaskView[];
  readonly answeredBy: string;
}

/** POST /workers/register */
export interface RegisterWorkerRequest {
  /** Stable id of the worker (letters, digits, '.', '_', '-', ':'; at most 128). */
  readonly id: string;
  /** Where the worker's own API listens, e.g. https://10.0.0.5:8729. */
  readonly endpoint: string;
  /** Must be this datacenter's name (the masters' --datacenter). */
  readonly datacenter: string;
  readonly version?: string;
}

export interface RegisterWorkerResponse {
  readonly worker: WorkerView;
  /** Send a heartbeat at least this often. */
  readonly heartbeatIntervalMs: number;
  /** A worker silent for this long loses its tasks. */
  readonly workerTimeoutMs: number;
  /** This datacenter's message queue, as the masters were configured. */
  readonly mq: { readonly type: string; readonly kafkaAddr: readonly string[] };
}

/** POST /workers/:id/heartbeat (the body may be omitted) */
export interface HeartbeatRequest {
  readonly version?: string;
  /** The worker's certificate warnings (near expiry), shown by `get status`. */
  readonly warnings?: readonly string[];
}

export interface TaskAssignment {
  readonly taskId: string;
  readonly syncId: string;
  readonly kind: TaskKind;
  readonly database: string;
  /** Present it with every status report; a report with an older epoch is refused with 409. */
  readonly epoch: number;
  readonly state: TaskState;
  /** The sync's run: tasks name their slots, publications, topics and progress `<syncId>_<run>` (null: `<syncId>`). */
  readonly run?: string | null;
  /** How to run the task (configure sync); absent: the worker's own flags. */
  readonly settings?: SyncSettings;
  /** The sync run's record key (base64url, secret): the source signs its records with it, the destination verifies. */
  readonly recordKey?: string;
}

export interface HeartbeatResponse {
  /** Every task this worker should run now; a task missing here must be stopped. */
  readonly assignments: readonly TaskAssignment[];
  readonly heartbeatIntervalMs: number;
  readonly workerTimeoutMs: number;
}

/** POST /tasks/:id/status */
export interface TaskStatusRequest {
  readonly workerId: string;
  readonly epoch: number;
  readonly state: ReportedTaskState;
  readonly error?: string | null;
  /** Replaces the task's progress document (at most 256 kB as JSON). */
  readonly progress?: Readonly<Record<string, unknown>>;
}

export interface TaskStatusResponse {
  readonly task: TaskView;
}

// ------------------------------------------------------------------------------------------- validators

const ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_PROGRESS_BYTES = 256 * 1024;
const MAX_ERROR_CHARS = 4096;

/** Worker and task ids: what may appear in a path segment without surprises. */
export function isValidId(id: string): boolean {
  return ID.test(id);
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, opts: { optional?: boolean; max?: number } = {}): string | undefined {
  const v = o[key];
  if (v === undefined && opts.optional) return undefined;
  if (typeof v !== 'string' || v === '') throw badRequest(`'${key}' must be a non-empty string`);
  if (v.length > (opts.max ?? 1024)) throw badRequest(`'${key}' is too long`);
  return v;
}

function onlyKeys(o: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw badRequest(`unknown field '${k}'`);
}

export function parseRegisterWorkerRequest(value: unknown): RegisterWorkerRequest {
  const o = object(value, 'the body');
  onlyKeys(o, ['id', 'endpoint', 'datacenter', 'version']);
  const id = str(o, 'id')!;
  if (!isValidId(id)) throw badRequest("'id' may hold letters, digits, '.', '_', '-', ':' (at most 128)");
  const endpoint = str(o, 'endpoint')!;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw badRequest("'endpoint' must be a URL such as https://10.0.0.5:8729");
  }
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '') throw badRequest("'endpoint' must be an https URL without credentials");
  const version = str(o, 'version', { optional: true, max: 64 });
  return { id, endpoint: url.origin, datacenter: str(o, 'datacenter', { max: 128 })!, ...(version !== undefined ? { version } : {}) };
}

export function parseHeartbeatRequest(value: unknown): HeartbeatRequest {
  if (value === undefined) return {};
  const o = object(value, 'the body');
  onlyKeys(o, ['version', 'warnings']);
  const version = str(o, 'version', { optional: true, max: 64 });
  const warnings = o['warnings'];
  if (warnings !== undefined && (!Array.isArray(warnings) || warnings.length > 16 || !warnings.every((w) => typeof w === 'string' && w.length <= 1024))) {
    throw badRequest("'warnings' must be at most 16 strings");
  }
  return { ...(version !== undefined ? { version } : {}), ...(warnings !== undefined ? { warnings: warnings as string[] } : {}) };
}

export function parseTaskStatusRequest(value: unknown): TaskStatusRequest {
  const o = object(value, 'the body');
  onlyKeys(o, ['workerId', 'epoch', 'state', 'error', 'progress']);
  const workerId = str(o, 'workerId')!;
  if (!isValidId(workerId)) throw badRequest("'workerId' is not a valid worker id");
  const epoch = o['epoch'];
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1) throw badRequest("'epoch' must be a positive integer");
  const state = o['state'];
  if (state !== 'running' && state !== 'failed') throw badRequest("'state' must be 'running' or 'failed'");
  const error = o['error'];
  if (error !== undefined && error !== null && (typeof error !== 'string' || error.length > MAX_ERROR_CHARS)) throw badRequest(`'error' must be a string of at most ${MAX_ERROR_CHARS} characters or null`);
  let progress: Record<string, unknown> | undefined;
  if (o['progress'] !== undefined) {
    progress = object(o['progress'], "'progress'");
    if (Buffer.byteLength(JSON.stringify(progress)) > MAX_PROGRESS_BYTES) throw badRequest(`'progress' must be at most ${MAX_PROGRESS_BYTES} bytes as JSON`);
  }
  return { workerId, epoch, state, ...(error !== undefined ? { error: error as string | null } : {}), ...(progress !== undefined ? { progress } : {}) };
}
