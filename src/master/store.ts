/**
 * The masters' state in the datacenter's own PostgreSQL: schema `dcsync` of the `postgres` database, tables
 * prefixed `master_` (other dcsync tables share the schema). Every master reads and writes here; nothing the
 * masters need survives only in a process, so restarting every master loses nothing.
 *
 *   master_meta     key/value: schema_version
 *   master_lease    one row: the leader lease (holder id + process instance, endpoint, epoch, expires_at)
 *   master_masters  one row per master id (its --server.endpoint): instance, version, started_at, last_seen
 *   master_workers  one row per worker: endpoint, datacenter, version, registered_at, last_heartbeat
 *   master_syncs    one row per sync: role incoming|outgoing, config jsonb, status, created_at, updated_at
 *   master_tasks    one row per (sync, kind, database): worker_id, epoch, state, error, progress jsonb, updated_at
 *   master_cleanups slots and publications of ended runs that the source's leader still has to drop
 *
 * master_syncs also holds the run (one configured life of a sync), the client keyfile an incoming sync presents
 * to its source (`secret`: never returned by any route, never logged) and the last view of the other datacenter
 * (`peer`, `peer_checked_at`, `peer_error`). Masters and workers record their certificate warnings (`warnings`).
 *
 * Times are the database's (now()), never a master's clock, so masters with skewed clocks agree on lease expiry
 * and heartbeat age.
 *
 * Fencing. The lease epoch grows by one with every acquisition. A leader's writes run in fenced(): the
 * transaction first takes `SELECT epoch … FOR SHARE` on the lease row and goes on only if the epoch is still
 * its own. The share lock conflicts with the UPDATE that hands the lease to someone else, so a takeover waits
 * until the old leader's transaction has ended, and a fenced transaction that starts after the takeover sees the
 * new epoch and fails with FencedError: no write of a deposed leader commits after its successor's epoch exists.
 * Tasks carry their own epoch, bumped at every assignment; a worker's report is applied only with the task's
 * current epoch and worker (compare-and-set in the UPDATE's WHERE clause), so a worker that lost its task can no
 * longer change it.
 */
import { DcsyncError } from '../core/errors.ts';
import type { SyncRole, TaskKind, TaskState, ReportedTaskState, TaskView } from '../control/v1/cluster.ts';
import type { PgPool, Queryable } from '../postgres/pool.ts';
import type { SyncStatus } from '../control/v1/sync.ts';
import { HELD_STATES, planRound, type Plan, type PlanInput, type PlanOptions } from './scheduler.ts';

export const STATE_SCHEMA = 'dcsync';
/** The version of the tables below; a master refuses to run against a newer one. */
export const SCHEMA_VERSION = 1;
/** Key of the advisory lock that serializes schema creation between masters starting at once. */
const SCHEMA_LOCK_KEY = 0x6463_7379; // 'dcsy'

const SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS dcsync;
CREATE TABLE IF NOT EXISTS dcsync.master_meta (
  key   text PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE IF NOT EXISTS dcsync.master_lease (
  singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  holder          text,
  holder_instance text,
  endpoint        text,
  epoch           bigint NOT NULL DEFAULT 0,
  acquired_at     timestamptz,
  expires_at      timestamptz
);
INSERT INTO dcsync.master_lease (singleton) VALUES (true) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS dcsync.master_masters (
  id         text PRIMARY KEY,
  endpoint   text NOT NULL,
  instance   text NOT NULL,
  version    text NOT NULL,
  started_at timestamptz NOT NULL,
  last_seen  timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS dcsync.master_workers (
  id             text PRIMARY KEY,
  endpoint       text NOT NULL,
  datacenter     text NOT NULL,
  version        text NOT NULL DEFAULT '',
  registered_at  timestamptz NOT NULL DEFAULT now(),
  last_heartbeat timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS dcsync.master_syncs (
  id         text PRIMARY KEY,
  role       text NOT NULL CHECK (role IN ('incoming', 'outgoing')),
  config     jsonb NOT NULL DEFAULT '{}',
  status     text NOT NULL DEFAULT 'inactive' CHECK (status IN ('inactive', 'initializing', 'initial-sync', 'running', 'cancelling', 'failed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS dcsync.master_tasks (
  id         text PRIMARY KEY,
  sync_id    text NOT NULL REFERENCES dcsync.master_syncs (id) ON DELETE CASCADE,
  kind       text NOT NULL CHECK (kind IN ('source', 'destination')),
  database   text NOT NULL,
  worker_id  text REFERENCES dcsync.master_workers (id),
  epoch      bigint NOT NULL DEFAULT 0,
  state      text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'assigned', 'running', 'failed', 'cancelled')),
  error      text,
  progress   jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (sync_id, kind, database)
);
CREATE INDEX IF NOT EXISTS master_tasks_worker_id ON dcsync.master_tasks (worker_id);
ALTER TABLE dcsync.master_syncs ADD COLUMN IF NOT EXISTS run text;
ALTER TABLE dcsync.master_syncs ADD COLUMN IF NOT EXISTS secret text;
ALTER TABLE dcsync.master_syncs ADD COLUMN IF NOT EXISTS peer jsonb;
ALTER TABLE dcsync.master_syncs ADD COLUMN IF NOT EXISTS peer_checked_at timestamptz;
ALTER TABLE dcsync.master_syncs ADD COLUMN IF NOT EXISTS peer_error text;
ALTER TABLE dcsync.master_syncs ADD COLUMN IF NOT EXISTS error text;
ALTER TABLE dcsync.master_masters ADD COLUMN IF NOT EXISTS warnings jsonb NOT NULL DEFAULT '[]';
ALTER TABLE dcsync.master_workers ADD COLUMN IF NOT EXISTS warnings jsonb NOT NULL DEFAULT '[]';
CREATE TABLE IF NOT EXISTS dcsync.master_cleanups (
  stream     text PRIMARY KEY,
  sync_id    text NOT NULL,
  reason     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_error text
);
`;

/** The lease epoch moved on: this master is not the leader (any more). Not retriable: the caller must re-check who leads. */
export class FencedError extends DcsyncError {
  constructor(readonly epoch: number, readonly currentEpoch: number) {
    super(`leadership lost: the lease epoch is ${currentEpoch}, not ${epoch}`);
  }
}

/** The state tables were made by a newer dcsync. */
export class SchemaVersionError extends DcsyncError {
  constructor(readonly found: number) {
    super(`the master state in schema ${STATE_SCHEMA} has version ${found}, newer than this dcsync understands (${SCHEMA_VERSION}): upgrade this master`);
  }
}

export interface LeaseRow {
  readonly holder: string | null;
  readonly holderInstance: string | null;
  readonly endpoint: string | null;
  readonly epoch: number;
  readonly expiresAt: Date | null;
  /** Until expiry, on the database's clock; 0 when expired or free. */
  readonly remainingMs: number;
  /** The database's clock when the row was read. */
  readonly now: Date;
}

export interface MasterRow {
  readonly id: string;
  readonly endpoint: string;
  readonly instance: string;
  readonly version: string;
  readonly startedAt: Date;
  readonly lastSeen: Date;
  /** now() - last_seen at the time of reading. */
  readonly ageMs: number;
}

export interface WorkerRow {
  readonly id: string;
  readonly endpoint: string;
  readonly datacenter: string;
  readonly version: string;
  readonly registeredAt: Date;
  readonly lastHeartbeat: Date;
  readonly ageMs: number;
  /** Tasks it holds (assigned, running, failed). */
  readonly tasks: number;
}

/** A task as stored: the wire view, with a mutable progress object and a Date. */
export interface TaskRow extends Omit<TaskView, 'progress' | 'updatedAt'> {
  readonly progress: Record<string, unknown>;
  readonly updatedAt: Date;
}

/** A task with what its worker needs of its sync. */
export interface AssignmentRow extends TaskRow {
  readonly run: string | null;
  /** The sync's settings as stored (validated by the worker). */
  readonly settings: unknown;
  /** The sync run's record key (record-auth.ts), as stored; null for syncs configured before records were signed. */
  readonly recordKey: string | null;
}

export type TaskReportOutcome = { readonly kind: 'ok'; readonly task: TaskRow } | { readonly kind: 'not-found' } | { readonly kind: 'stale'; readonly task: TaskRow };

export interface RoundResult {
  readonly plan: Plan;
  /** Updates whose compare-and-set matched (the others saw a concurrent change and wait for the next round). */
  readonly applied: number;
}

function int(v: unknown, what: string): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n)) throw new DcsyncError(`${what} is not a safe integer: ${String(v)}`);
  return n;
}

function num(v: unknown): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}

function date(v: unknown): Date {
  return v instanceof Date ? v : new Date(String(v));
}

function optDate(v: unknown): Date | null {
  return v === null || v === undefined ? null : date(v);
}

function jsonObject(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

const LEASE_COLUMNS = `holder, holder_instance, endpoint, epoch, expires_at, now() AS now,
  COALESCE(GREATEST(0, EXTRACT(EPOCH FROM (expires_at - now())) * 1000), 0)::float8 AS remaining_ms`;

type Raw = Record<string, unknown>;

function leaseRow(r: Raw): LeaseRow {
  return {
    holder: (r['holder'] as string | null) ?? null,
    holderInstance: (r['holder_instance'] as string | null) ?? null,
    endpoint: (r['endpoint'] as string | null) ?? null,
    epoch: int(r['epoch'], 'lease epoch'),
    expiresAt: optDate(r['expires_at']),
    remainingMs: num(r['remaining_ms']),
    now: date(r['now']),
  };
}

export const TASK_COLUMNS = 'id, sync_id, kind, database, worker_id, epoch, state, error, progress, updated_at';

export function taskRow(r: Raw): TaskRow {
  return {
    id: String(r['id']),
    syncId: String(r['sync_id']),
    kind: r['kind'] as TaskKind,
    database: String(r['database']),
    workerId: (r['worker_id'] as string | null) ?? null,
    epoch: int(r['epoch'], 'task epoch'),
    state: r['state'] as TaskState,
    error: (r['error'] as string | null) ?? null,
    progress: jsonObject(r['progress']),
    updatedAt: date(r['updated_at']),
  };
}

const WORKER_COLUMNS = `w.id, w.endpoint, w.datacenter, w.version, w.registered_at, w.last_heartbeat,
  (EXTRACT(EPOCH FROM (now() - w.last_heartbeat)) * 1000)::float8 AS age_ms,
  (SELECT count(*) FROM dcsync.master_tasks t WHERE t.worker_id = w.id AND t.state = ANY ($1::text[]))::int AS tasks`;

function workerRow(r: Raw): WorkerRow {
  return {
    id: String(r['id']),
    endpoint: String(r['endpoint']),
    datacenter: String(r['datacenter']),
    version: String(r['version'] ?? ''),
    registeredAt: date(r['registered_at']),
    lastHeartbeat: date(r['last_heartbeat']),
    ageMs: num(r['age_ms']),
    tasks: int(r['tasks'] ?? 0, 'task count'),
  };
}

export interface LeaseHolder {
  /** The master's id (stable across restarts: derived from its --server.endpoint). */
  readonly id: string;
  /** This process: a new random value at every start. */
  readonly instance: string;
  readonly endpoint: string;
}

export class MasterStore {
  constructor(private readonly pool: PgPool) {}

  /** Creates the schema and tables if missing (idempotent, safe when several masters start at once) and checks the version. */
  async ensureSchema(): Promise<void> {
    await this.pool.transaction(async (q) => {
      await q.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
      await q.query(SCHEMA_SQL);
      const r = await q.query<{ value: string }>("SELECT value FROM dcsync.master_meta WHERE key = 'schema_version'");
      const found = r.rows[0] ? Number(r.rows[0].value) : undefined;
      if (found === undefined) await q.query("INSERT INTO dcsync.master_meta (key, value) VALUES ('schema_version', $1)", [String(SCHEMA_VERSION)]);
      else if (found > SCHEMA_VERSION) throw new SchemaVersionError(found);
    });
  }

  // ------------------------------------------------------------------------------------------- lease

  async readLease(q: Queryable = this.pool): Promise<LeaseRow> {
    const r = await q.query(`SELECT ${LEASE_COLUMNS} FROM dcsync.master_lease WHERE singleton`);
    if (!r.rows[0]) throw new DcsyncError('the lease row is missing from dcsync.master_lease');
    return leaseRow(r.rows[0]);
  }

  /**
   * Takes the lease when it is free or expired, or held under this master's own id (an earlier process of this
   * master, or this process after its deadline passed), always with epoch + 1. Returns the new lease, or
   * undefined when another master holds it.
   */
  async tryAcquire(me: LeaseHolder, leaseMs: number, q: Queryable = this.pool): Promise<LeaseRow | undefined> {
    const r = await q.query(
      `UPDATE dcsync.master_lease
          SET holder = $1, holder_instance = $2, endpoint = $3, epoch = epoch + 1, acquired_at = now(),
              expires_at = now() + make_interval(secs => $4::float8 / 1000)
        WHERE singleton AND (holder IS NULL OR expires_at IS NULL OR expires_at <= now() OR holder = $1)
        RETURNING ${LEASE_COLUMNS}`,
      [me.id, me.instance, me.endpoint, leaseMs],
    );
    return r.rows[0] ? leaseRow(r.rows[0]) : undefined;
  }

  /** Extends the lease this process holds with `epoch`; undefined when it holds it no longer. */
  async renew(instance: string, epoch: number, leaseMs: number, q: Queryable = this.pool): Promise<LeaseRow | undefined> {
    const r = await q.query(
      `UPDATE dcsync.master_lease SET expires_at = now() + make_interval(secs => $3::float8 / 1000)
        WHERE singleton AND holder_instance = $1 AND epoch = $2
        RETURNING ${LEASE_COLUMNS}`,
      [instance, epoch, leaseMs],
    );
    return r.rows[0] ? leaseRow(r.rows[0]) : undefined;
  }

  /** Gives the lease up (graceful shutdown), so another master can take it at once. */
  async release(instance: string, epoch: number, q: Queryable = this.pool): Promise<boolean> {
    const r = await q.query(
      `UPDATE dcsync.master_lease SET holder = NULL, holder_instance = NULL, endpoint = NULL, expires_at = NULL
        WHERE singleton AND holder_instance = $1 AND epoch = $2`,
      [instance, epoch],
    );
    return (r.rowCount ?? 0) > 0;
  }

  /**
   * Runs `fn` in a transaction that goes on only while the lease epoch is `epoch`, holding a share lock on the
   * lease row until it ends (see the file comment). Throws FencedError otherwise.
   */
  async fenced<T>(epoch: number, fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.pool.transaction(async (q) => {
      const r = await q.query<{ epoch: string }>('SELECT epoch FROM dcsync.master_lease WHERE singleton FOR SHARE');
      const current = r.rows[0] ? int(r.rows[0].epoch, 'lease epoch') : 0;
      if (current !== epoch) throw new FencedError(epoch, current);
      return fn(q);
    });
  }

  // ------------------------------------------------------------------------------------------- masters

  /** Records that this master runs (at start and every couple of seconds). */
  async touchMaster(m: { id: string; endpoint: string; instance: string; version: string; warnings?: readonly string[] }): Promise<void> {
    await this.pool.query(
      `INSERT INTO dcsync.master_masters (id, endpoint, instance, version, started_at, last_seen, warnings) VALUES ($1, $2, $3, $4, now(), now(), $5::jsonb)
       ON CONFLICT (id) DO UPDATE SET endpoint = EXCLUDED.endpoint, version = EXCLUDED.version, last_seen = now(),
         instance = EXCLUDED.instance, warnings = EXCLUDED.warnings,
         started_at = CASE WHEN dcsync.master_masters.instance = EXCLUDED.instance THEN dcsync.master_masters.started_at ELSE now() END`,
      [m.id, m.endpoint, m.instance, m.version, JSON.stringify(m.warnings ?? [])],
    );
  }

  async listMasters(): Promise<{ masters: MasterRow[]; lease: LeaseRow }> {
    return this.pool.withSession(async (q) => {
      const r = await q.query(
        `SELECT id, endpoint, instance, version, started_at, last_seen, (EXTRACT(EPOCH FROM (now() - last_seen)) * 1000)::float8 AS age_ms
           FROM dcsync.master_masters ORDER BY id`,
      );
      const masters = r.rows.map((x: Raw) => ({
        id: String(x['id']),
        endpoint: String(x['endpoint']),
        instance: String(x['instance']),
        version: String(x['version']),
        startedAt: date(x['started_at']),
        lastSeen: date(x['last_seen']),
        ageMs: num(x['age_ms']),
      }));
      return { masters, lease: await this.readLease(q) };
    });
  }

  // ------------------------------------------------------------------------------------------- workers

  /** Adds a worker or updates its endpoint and version (a restarted worker registers again); counts as a heartbeat. */
  async registerWorker(w: { id: string; endpoint: string; datacenter: string; version: string }): Promise<WorkerRow> {
    return this.pool.withSession(async (q) => {
      await q.query(
        `INSERT INTO dcsync.master_workers (id, endpoint, datacenter, version, registered_at, last_heartbeat) VALUES ($1, $2, $3, $4, now(), now())
         ON CONFLICT (id) DO UPDATE SET endpoint = EXCLUDED.endpoint, datacenter = EXCLUDED.datacenter, version = EXCLUDED.version, last_heartbeat = now()`,
        [w.id, w.endpoint, w.datacenter, w.version],
      );
      const r = await q.query(`SELECT ${WORKER_COLUMNS} FROM dcsync.master_workers w WHERE w.id = $2`, [HELD_STATES, w.id]);
      return workerRow(r.rows[0]!);
    });
  }

  /** Records a heartbeat; false when the worker is not registered (it must register again). */
  async heartbeat(id: string, version?: string, warnings?: readonly string[]): Promise<boolean> {
    const r = await this.pool.query(
      'UPDATE dcsync.master_workers SET last_heartbeat = now(), version = COALESCE($2, version), warnings = COALESCE($3::jsonb, warnings) WHERE id = $1',
      [id, version ?? null, warnings === undefined ? null : JSON.stringify(warnings)],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async listWorkers(): Promise<WorkerRow[]> {
    const r = await this.pool.query(`SELECT ${WORKER_COLUMNS} FROM dcsync.master_workers w ORDER BY w.id`, [HELD_STATES]);
    return r.rows.map(workerRow);
  }

  // ------------------------------------------------------------------------------------------- tasks

  async listTasks(filter: { syncId?: string; workerId?: string } = {}): Promise<TaskRow[]> {
    const r = await this.pool.query(
      `SELECT ${TASK_COLUMNS} FROM dcsync.master_tasks WHERE ($1::text IS NULL OR sync_id = $1) AND ($2::text IS NULL OR worker_id = $2) ORDER BY sync_id, kind, database`,
      [filter.syncId ?? null, filter.workerId ?? null],
    );
    return r.rows.map(taskRow);
  }

  /** The tasks a worker holds now (assigned, running, failed), with their epochs and their sync's run and settings. */
  async assignmentsOf(workerId: string): Promise<AssignmentRow[]> {
    const r = await this.pool.query(
      `SELECT ${TASK_COLUMNS.split(', ').map((c) => `t.${c}`).join(', ')}, s.run, s.config -> 'settings' AS settings, s.config ->> 'recordKey' AS record_key
         FROM dcsync.master_tasks t JOIN dcsync.master_syncs s ON s.id = t.sync_id
        WHERE t.worker_id = $1 AND t.state = ANY ($2::text[]) ORDER BY t.id`,
      [workerId, HELD_STATES],
    );
    return r.rows.map((x: Raw) => ({ ...taskRow(x), run: (x['run'] as string | null) ?? null, settings: x['settings'] ?? null, recordKey: (x['record_key'] as string | null) ?? null }));
  }

  /**
   * Applies a worker's report on a task, only if the task is still the worker's at that epoch (the UPDATE's
   * WHERE clause is the fence). `stale` when the task moved on (another worker or a newer epoch).
   */
  async reportTask(
    taskId: string,
    report: { workerId: string; epoch: number; state: ReportedTaskState; error?: string | null; progress?: Readonly<Record<string, unknown>> },
  ): Promise<TaskReportOutcome> {
    return this.pool.withSession(async (q) => {
      const r = await q.query(
        `UPDATE dcsync.master_tasks
            SET state = $4, error = $5, progress = COALESCE($6::jsonb, progress), updated_at = now()
          WHERE id = $1 AND worker_id = $2 AND epoch = $3 AND state = ANY ($7::text[])
          RETURNING ${TASK_COLUMNS}`,
        [taskId, report.workerId, report.epoch, report.state, report.error ?? null, report.progress === undefined ? null : JSON.stringify(report.progress), HELD_STATES],
      );
      if (r.rows[0]) return { kind: 'ok', task: taskRow(r.rows[0]) };
      const cur = await q.query(`SELECT ${TASK_COLUMNS} FROM dcsync.master_tasks WHERE id = $1`, [taskId]);
      return cur.rows[0] ? { kind: 'stale', task: taskRow(cur.rows[0]) } : { kind: 'not-found' };
    });
  }


  // ------------------------------------------------------------------------------------------- scheduling

  /**
   * One scheduling round, all in one fenced transaction: reads the clock, syncs, this cluster's databases, the
   * tasks (FOR UPDATE, so worker reports wait and then see the new epochs) and the workers; plans (pure, see
   * scheduler.ts); applies the plan with compare-and-set on each task's epoch.
   */
  async runSchedulingRound(epoch: number, opts: PlanOptions): Promise<RoundResult> {
    return this.fenced(epoch, async (q) => {
      const now = await q.query<{ now_ms: string }>('SELECT (EXTRACT(EPOCH FROM now()) * 1000)::float8 AS now_ms');
      const syncs = (await q.query<{ id: string; role: SyncRole; status: SyncStatus; databases: unknown }>(`SELECT id, role, status, config -> 'databases' AS databases FROM dcsync.master_syncs ORDER BY id`)).rows;
      const dbs = await q.query<{ datname: string }>('SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname');
      const tasks = (await q.query(`SELECT ${TASK_COLUMNS} FROM dcsync.master_tasks ORDER BY id FOR UPDATE`)).rows.map(taskRow);
      const workers = await q.query<{ id: string; hb_ms: string }>('SELECT id, (EXTRACT(EPOCH FROM last_heartbeat) * 1000)::float8 AS hb_ms FROM dcsync.master_workers');
      const input: PlanInput = {
        nowMs: num(now.rows[0]?.now_ms),
        syncs: syncs.map((s) => ({ id: s.id, role: s.role, status: s.status, databases: stringList(s.databases) })),
        localDatabases: dbs.rows.map((d) => d.datname),
        tasks,
        workers: workers.rows.map((w) => ({ id: w.id, lastHeartbeatMs: num(w.hb_ms) })),
      };
      const plan = planRound(input, opts);
      let applied = 0;
      for (const c of plan.creates) {
        const r = await q.query(
          `INSERT INTO dcsync.master_tasks (id, sync_id, kind, database, worker_id, epoch, state) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT DO NOTHING`,
          [c.id, c.syncId, c.kind, c.database, c.workerId, c.epoch, c.state],
        );
        applied += r.rowCount ?? 0;
      }
      for (const u of plan.updates) {
        const r = await q.query(
          `UPDATE dcsync.master_tasks SET worker_id = $2, epoch = $3, state = $4, error = NULL, updated_at = now(),
             progress = CASE WHEN $4 = 'cancelled' OR $6 = 'reactivated' THEN '{}'::jsonb ELSE progress END
            WHERE id = $1 AND epoch = $5`,
          [u.taskId, u.workerId, u.epoch, u.state, u.fromEpoch, u.reason],
        );
        applied += r.rowCount ?? 0;
      }
      return { plan, applied };
    });
  }
}

/** The strings of a JSON array (anything else: none). */
export function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
