/**
 * `GET /status` as a pure function of what the datacenter's PostgreSQL holds: the incoming sync with its
 * destination tasks and the last view of the source (peer), the outgoing syncs with their source tasks, and the
 * certificate warnings of masters and workers.
 *
 * Status of an active incoming sync, in this order: `failed` when a task of either side failed or the source
 * ended the sync; `initializing` until the source announced its databases and every destination task reported;
 * `initial-sync` while a database's initial copy runs; `running` once every database streams.
 *
 * Lag, per database (a table has its database's), the one computation behind `get status`, the status page and
 * /metrics: the source task reports the commit LSN and time of the last transaction with changes it read from the
 * slot, and its worker adds the source's current WAL position and what the slot confirmed; the destination reports
 * its applied point, the position of its lagging partition (worker/applied-point.ts, heartbeats included).
 * lagBytes = (last read LSN − applied point, when not applied yet) + (current WAL − what the source has read): WAL
 * still at the source counts. lagSeconds = the source commit time of the last read transaction − the commit time
 * at the applied point (0 once applied); WAL the source has not read has no commit time yet, so only lagBytes shows
 * it. Both are null until both sides have reported after the initial copy, and while the destination has applied
 * nothing yet.
 */
import { parseLsn } from '../core/lsn.ts';
import type { TaskState } from '../control/v1/cluster.ts';
import type { SyncStatus } from '../control/v1/sync.ts';
import { stringList, type TaskRow } from './store.ts';
import type { SyncRecord } from './sync-store.ts';
import { isActive } from './sync-store.ts';
import type {
  DatabaseStatusView,
  DestinationProgress,
  DestinationTableProgress,
  OutgoingStatusView,
  OutgoingSyncView,
  PeerTaskView,
  SourceProgress,
  StatusResponse,
  SyncSummary,
  TableStatus,
  TableStatusView,
} from '../control/v1/sync.ts';

export interface StatusInput {
  readonly datacenter: string;
  readonly answeredBy: string;
  readonly incoming: { readonly sync: SyncRecord; readonly tasks: readonly TaskRow[] } | undefined;
  readonly outgoing: readonly { readonly sync: SyncRecord; readonly tasks: readonly TaskRow[]; readonly cleanupPending: number }[];
  readonly warnings: readonly string[];
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function nonNeg(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

export function parseSourceProgress(p: Readonly<Record<string, unknown>> | undefined): SourceProgress | undefined {
  if (!p || p['kind'] !== 'source') return undefined;
  return {
    kind: 'source',
    snapshotComplete: p['snapshotComplete'] === true,
    lastDataLsn: str(p['lastDataLsn']),
    lastDataTime: str(p['lastDataTime']),
    flushedLsn: str(p['flushedLsn']),
    walLsn: str(p['walLsn']),
    slot: str(p['slot']),
    slotConfirmedLsn: str(p['slotConfirmedLsn']),
    retainedWalBytes: typeof p['retainedWalBytes'] === 'number' ? nonNeg(p['retainedWalBytes']) : null,
    updatedAt: str(p['updatedAt']) ?? '',
  };
}

const TABLE_STATES: readonly DestinationTableProgress['status'][] = ['waiting', 'copying', 'copied', 'running', 'failed'];

export function parseDestinationProgress(p: Readonly<Record<string, unknown>> | undefined): DestinationProgress | undefined {
  if (!p || p['kind'] !== 'destination') return undefined;
  const tables: DestinationTableProgress[] = [];
  if (Array.isArray(p['tables'])) {
    for (const t of p['tables'] as unknown[]) {
      if (typeof t !== 'object' || t === null) continue;
      const o = t as Record<string, unknown>;
      const status = TABLE_STATES.find((s) => s === o['status']);
      if (typeof o['schema'] !== 'string' || typeof o['name'] !== 'string' || status === undefined) continue;
      tables.push({ schema: o['schema'], name: o['name'], status, rowsCopied: nonNeg(o['rowsCopied']), rowsTotal: nonNeg(o['rowsTotal']), error: str(o['error']) });
    }
  }
  return {
    kind: 'destination',
    snapshotComplete: p['snapshotComplete'] === true,
    ...(typeof p['readOnly'] === 'boolean' ? { readOnly: p['readOnly'] } : {}),
    appliedLsn: str(p['appliedLsn']),
    appliedCommitTime: str(p['appliedCommitTime']),
    lastAppliedAt: str(p['lastAppliedAt']),
    tables,
    tablesOmitted: nonNeg(p['tablesOmitted']),
    updatedAt: str(p['updatedAt']) ?? '',
  };
}

function lsnOrUndefined(text: string | null): bigint | undefined {
  if (text === null) return undefined;
  try {
    return parseLsn(text);
  } catch {
    return undefined;
  }
}

function maxOf(values: readonly (bigint | undefined)[]): bigint | undefined {
  let m: bigint | undefined;
  for (const v of values) if (v !== undefined && (m === undefined || v > m)) m = v;
  return m;
}

/** Lag of one database from the two sides' reports (see the file comment). */
export function databaseLag(src: SourceProgress | undefined, dst: DestinationProgress | undefined): { lagBytes: number | null; lagSeconds: number | null } {
  if (!src || !dst || !dst.snapshotComplete) return { lagBytes: null, lagSeconds: null };
  const lastData = lsnOrUndefined(src.lastDataLsn);
  const applied = lsnOrUndefined(dst.appliedLsn);
  if (lastData !== undefined && applied === undefined) return { lagBytes: null, lagSeconds: null }; // nothing applied yet: how far behind is unknown
  let lagBytes = 0;
  let lagSeconds: number | null = 0;
  if (lastData !== undefined && applied !== undefined && applied < lastData) {
    lagBytes = Number(lastData - applied);
    const s = src.lastDataTime === null ? NaN : Date.parse(src.lastDataTime);
    const d = dst.appliedCommitTime === null ? NaN : Date.parse(dst.appliedCommitTime);
    lagSeconds = Number.isFinite(s) && Number.isFinite(d) ? Math.max(0, (s - d) / 1000) : null;
  }
  const wal = lsnOrUndefined(src.walLsn);
  const read = maxOf([lsnOrUndefined(src.slotConfirmedLsn), lsnOrUndefined(src.flushedLsn), lastData, applied]);
  if (wal !== undefined && read !== undefined && wal > read) lagBytes += Number(wal - read);
  return { lagBytes, lagSeconds };
}

function summary(s: SyncRecord, status: SyncStatus): SyncSummary {
  return { id: s.id, run: s.run, role: s.role, status, createdAt: s.createdAt.toISOString(), updatedAt: s.updatedAt.toISOString() };
}

function peerView(s: SyncRecord): OutgoingSyncView | undefined {
  const p = s.peer;
  if (!p || !Array.isArray(p['tasks']) || !Array.isArray(p['databases'])) return undefined;
  return p as unknown as OutgoingSyncView;
}

function taskBrief(t: { state: TaskState; workerId: string | null; error: string | null } | undefined): DatabaseStatusView['sourceTask'] {
  return t ? { state: t.state, workerId: t.workerId, error: t.error } : null;
}

/** The overall status of the incoming sync and why it failed. */
function incomingStatus(
  sync: SyncRecord,
  databases: readonly string[],
  dst: ReadonlyMap<string, TaskRow>,
  src: ReadonlyMap<string, PeerTaskView>,
): { status: SyncStatus; error: string | null } {
  if (!isActive(sync.status)) return { status: sync.status, error: sync.error };
  for (const db of databases) {
    const s = src.get(db);
    if (s?.state === 'failed') return { status: 'failed', error: `source task of database '${db}' failed: ${s.error ?? 'unknown error'}` };
    const d = dst.get(db);
    if (d?.state === 'failed') return { status: 'failed', error: `destination task of database '${db}' failed: ${d.error ?? 'unknown error'}` };
  }
  if (databases.length === 0) return { status: 'initializing', error: null };
  let copying = false;
  for (const db of databases) {
    const d = dst.get(db);
    const progress = parseDestinationProgress(d?.progress);
    if (!d || !progress) return { status: copying ? 'initial-sync' : 'initializing', error: null };
    if (!progress.snapshotComplete) copying = true;
  }
  return { status: copying ? 'initial-sync' : 'running', error: null };
}

export function buildStatus(input: StatusInput): StatusResponse {
  const outgoing: OutgoingStatusView[] = input.outgoing.map(({ sync, tasks, cleanupPending }) => ({
    id: sync.id,
    run: sync.run,
    status: outgoingStatus(sync, tasks),
    destination: destinationOf(sync),
    databases: tasks
      .filter((t) => t.state !== 'cancelled')
      .map((t) => {
        const p = parseSourceProgress(t.progress);
        return { database: t.database, state: t.state, workerId: t.workerId, error: t.error, snapshotComplete: p?.snapshotComplete ?? false, slot: p?.slot ?? null, retainedWalBytes: p?.retainedWalBytes ?? null };
      }),
    cleanupPending,
  }));
  const base = { datacenter: input.datacenter, outgoing, answeredBy: input.answeredBy };
  const inc = input.incoming;
  if (!inc) {
    return { ...base, status: 'inactive', sync: null, source: [], error: null, databases: [], tables: [], warnings: [...input.warnings], sourceCheckedAt: null };
  }
  const { sync, tasks } = inc;
  const peer = peerView(sync);
  const databases = [...new Set(peer?.databases ?? stringList(sync.config['databases']))].sort();
  const dst = new Map(tasks.filter((t) => t.kind === 'destination' && t.state !== 'cancelled').map((t) => [t.database, t]));
  const src = new Map((peer?.tasks ?? []).filter((t) => t.kind === 'source' && t.state !== 'cancelled').map((t) => [t.database, t]));
  const overall = incomingStatus(sync, databases, dst, src);
  const dbViews: DatabaseStatusView[] = [];
  const tables: TableStatusView[] = [];
  for (const db of databases) {
    const d = dst.get(db);
    const s = src.get(db);
    const dp = parseDestinationProgress(d?.progress);
    const sp = parseSourceProgress(s?.progress);
    const failed = d?.state === 'failed' || s?.state === 'failed';
    const lag = databaseLag(sp, dp);
    const dbStatus: TableStatus = !isActive(sync.status) ? 'inactive' : failed ? 'failed' : !dp ? 'waiting' : dp.snapshotComplete ? 'running' : 'copying';
    const lastMessageTime = dp?.lastAppliedAt ?? null;
    dbViews.push({ database: db, status: dbStatus, sourceTask: taskBrief(s), destinationTask: taskBrief(d), ...lag, lastMessageTime, readOnly: dp?.readOnly ?? null });
    for (const t of dp?.tables ?? []) {
      const status: TableStatus = !isActive(sync.status) ? 'inactive' : failed ? 'failed' : t.status;
      const error = t.error ?? (failed ? (d?.state === 'failed' ? d.error : s?.error) ?? null : null);
      tables.push({ database: db, table: `${t.schema}.${t.name}`, status, rowsCopied: t.rowsCopied, rowsTotal: Math.max(t.rowsTotal, t.rowsCopied), ...lag, lastMessageTime, error });
    }
  }
  const errors = [overall.error, sync.peerError !== null && isActive(sync.status) ? `the source datacenter cannot be reached: ${sync.peerError}` : null].filter((e): e is string => e !== null);
  const warnings = [...input.warnings, ...(peer?.warnings ?? []).map((w) => `source: ${w}`)];
  return {
    ...base,
    status: overall.status,
    sync: summary(sync, overall.status),
    source: stringList((sync.config['source'] as Record<string, unknown> | undefined)?.['endpoints']),
    error: errors.length > 0 ? errors.join('; ') : null,
    databases: dbViews,
    tables,
    warnings,
    sourceCheckedAt: sync.peerCheckedAt?.toISOString() ?? null,
  };
}

/** An outgoing sync's status as the source sees it. */
export function outgoingStatus(sync: SyncRecord, tasks: readonly TaskRow[]): SyncStatus {
  if (!isActive(sync.status)) return sync.status;
  const live = tasks.filter((t) => t.state !== 'cancelled');
  if (live.some((t) => t.state === 'failed')) return 'failed';
  if (live.length === 0 || live.some((t) => parseSourceProgress(t.progress) === undefined)) return 'initializing';
  return live.every((t) => parseSourceProgress(t.progress)!.snapshotComplete) ? 'running' : 'initial-sync';
}

export function destinationOf(sync: SyncRecord): { datacenter: string; endpoints: string[] } {
  const d = (sync.config['destination'] ?? {}) as Record<string, unknown>;
  return { datacenter: typeof d['datacenter'] === 'string' ? d['datacenter'] : '', endpoints: stringList(d['endpoints']) };
}
