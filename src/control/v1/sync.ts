/**
 * The sync lifecycle part of the master's API (v1): configuring a sync at the destination, the cross-datacenter
 * (peer) routes the destination's leader calls at the source, status, stop/abort and task reset. Shapes and
 * validators only; docs/api.md and docs/openapi.yaml describe them for operators.
 */
import { badRequest } from '../errors.ts';
import type { TaskKind, TaskState } from './cluster.ts';

export const SYNC_PATHS = {
  /** operator, destination: configure (or confirm) the incoming sync. */
  syncs: '/syncs',
  /** operator: overall status, incoming and outgoing syncs. */
  status: '/status',
  /** operator: the lag of each database over the last hour, as this master sampled it (the status page's charts). */
  lagHistory: '/status/lag-history',
  /** operator, destination: stop both sides (the source drops its slots and publications). */
  stopSync: '/syncs/:id/stop',
  /** operator, destination: stop this side only (when the source cannot be reached). */
  abortSync: '/syncs/:id/abort',
  /** operator, source: end an outgoing sync whose destination is gone; drops slots and publications. */
  abortOutgoing: '/outgoing-syncs/:id/abort',
  /** operator: restart a failed task. */
  resetTask: '/tasks/:id/reset',
  /** peer (the destination's masters, client certificate): PUT starts, GET reads, DELETE stops an outgoing sync. */
  peerOutgoing: '/peer/outgoing-syncs/:id',
} as const;

/** Sync status values, as ArangoSync's. */
export type SyncStatus = 'inactive' | 'initializing' | 'initial-sync' | 'running' | 'cancelling' | 'failed';
export const SYNC_STATUSES: readonly SyncStatus[] = ['inactive', 'initializing', 'initial-sync', 'running', 'cancelling', 'failed'];

export { APPLY_MODES, DEFAULT_SYNC_SETTINGS, REPLICATION_POLICIES, type SyncApplyMode, type SyncReplicationPolicy, type SyncSettings } from './settings.ts';
import { APPLY_MODES, DEFAULT_SYNC_SETTINGS, REPLICATION_POLICIES, type SyncSettings } from './settings.ts';

/** Sync ids: they become part of slot, publication and topic names (with the run: `<id>_<run>`). */
export const SYNC_ID_PATTERN = /^[a-z0-9_]{1,16}$/;
export const DEFAULT_SYNC_ID = 'main';
/** A run is one configured life of a sync: a new run after stop gets new slots, publications and topics. */
export const RUN_PATTERN = /^[a-z0-9]{6}$/;

/** The name of a run's slots, publications, topics and progress rows. */
export function streamName(syncId: string, run: string | null): string {
  return run === null ? syncId : `${syncId}_${run}`;
}

/** POST /syncs (operator, at the destination) */
export interface ConfigureSyncRequest {
  readonly id: string;
  readonly source: {
    /** The source datacenter's masters (https). */
    readonly endpoints: readonly string[];
    /** PEM of the source datacenter's TLS CA. */
    readonly cacert: string;
  };
  /** PEM keyfile issued by the source's client-auth CA: the destination's masters present it to the source. Kept secret. */
  readonly clientKeyfile: string;
  readonly settings: SyncSettings;
}

export interface SyncSummary {
  readonly id: string;
  readonly run: string | null;
  readonly role: 'incoming' | 'outgoing';
  readonly status: SyncStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface ConfigureSyncResponse {
  readonly sync: SyncSummary;
  /** False when the same sync was configured already (nothing changed). */
  readonly created: boolean;
  /** The source databases the source announced. */
  readonly databases: readonly string[];
}

/** PUT /peer/outgoing-syncs/:id (peer, at the source) */
export interface PeerStartRequest {
  readonly run: string;
  readonly destination: { readonly datacenter: string; readonly endpoints: readonly string[] };
  readonly settings: SyncSettings;
  /** The run's record key (32 bytes, base64url), made by the destination; absent from older destinations. */
  readonly recordKey?: string;
}

/** What a source task reports (worker → its master → the destination through the peer route). */
export interface SourceProgress {
  readonly kind: 'source';
  readonly snapshotComplete: boolean;
  /** Commit LSN of the last transaction with changes the task read from the slot (null: none yet). */
  readonly lastDataLsn: string | null;
  /** Its commit time (ISO). */
  readonly lastDataTime: string | null;
  /** What the slot has confirmed (durable in Kafka). */
  readonly flushedLsn: string | null;
  /** The source's pg_current_wal_lsn() when reported: WAL beyond what the slot confirmed is still to be read (null: unknown). */
  readonly walLsn: string | null;
  /** The task's replication slot (null: unknown). */
  readonly slot: string | null;
  /** The slot's confirmed_flush_lsn as the source's PostgreSQL holds it. */
  readonly slotConfirmedLsn: string | null;
  /** WAL the slot keeps the source from recycling: pg_current_wal_lsn() − restart_lsn, in bytes. */
  readonly retainedWalBytes: number | null;
  readonly updatedAt: string;
}

export interface DestinationTableProgress {
  readonly schema: string;
  readonly name: string;
  readonly status: 'waiting' | 'copying' | 'copied' | 'running' | 'failed';
  readonly rowsCopied: number;
  readonly rowsTotal: number;
  readonly error: string | null;
}

/** What a destination task reports. */
export interface DestinationProgress {
  readonly kind: 'destination';
  readonly snapshotComplete: boolean;
  /** Applications' sessions of the target database start read-only (absent: reported by an older worker). */
  readonly readOnly?: boolean;
  /**
   * The applied point (commit LSN): the least advanced position of the partitions that still have records to apply,
   * or the most advanced once none has (worker/applied-point.ts).
   */
  readonly appliedLsn: string | null;
  /** Source commit time of that position (ISO). */
  readonly appliedCommitTime: string | null;
  /** When the destination last applied anything (ISO, the target's clock). */
  readonly lastAppliedAt: string | null;
  readonly tables: readonly DestinationTableProgress[];
  /** Tables left out of `tables` (the report is bounded). */
  readonly tablesOmitted: number;
  readonly updatedAt: string;
}

export interface PeerTaskView {
  readonly database: string;
  readonly kind: TaskKind;
  readonly state: TaskState;
  readonly workerId: string | null;
  readonly error: string | null;
  readonly progress: Readonly<Record<string, unknown>>;
}

/** Answer of the peer routes: the source's view of an outgoing sync. */
export interface OutgoingSyncView {
  readonly id: string;
  readonly run: string | null;
  readonly status: SyncStatus;
  readonly destination: { readonly datacenter: string; readonly endpoints: readonly string[] };
  /** The source databases (one source task each). */
  readonly databases: readonly string[];
  readonly tasks: readonly PeerTaskView[];
  /** Certificates near expiry and similar, in the source datacenter. */
  readonly warnings: readonly string[];
  /** Slots and publications of ended runs still to drop (0 once `stop` has finished). */
  readonly cleanupPending: number;
  readonly updatedAt: string;
}

export type TableStatus = 'waiting' | 'copying' | 'copied' | 'running' | 'failed' | 'inactive';

export interface TableStatusView {
  readonly database: string;
  /** schema.name */
  readonly table: string;
  readonly status: TableStatus;
  readonly rowsCopied: number;
  readonly rowsTotal: number;
  /** null while unknown (initial copy, no report yet). */
  readonly lagSeconds: number | null;
  readonly lagBytes: number | null;
  readonly lastMessageTime: string | null;
  readonly error: string | null;
}

export interface DatabaseStatusView {
  readonly database: string;
  readonly status: TableStatus;
  readonly sourceTask: { readonly state: TaskState; readonly workerId: string | null; readonly error: string | null } | null;
  readonly destinationTask: { readonly state: TaskState; readonly workerId: string | null; readonly error: string | null } | null;
  readonly lagSeconds: number | null;
  readonly lagBytes: number | null;
  readonly lastMessageTime: string | null;
  /** Whether applications are kept from writing to it at this datacenter (null: not known yet). */
  readonly readOnly: boolean | null;
}

export interface OutgoingDatabaseView {
  readonly database: string;
  readonly state: TaskState;
  readonly workerId: string | null;
  readonly error: string | null;
  readonly snapshotComplete: boolean;
  /** The source task's replication slot (null until its worker reported it). */
  readonly slot: string | null;
  /** WAL that slot keeps from being recycled, in bytes (null: unknown). */
  readonly retainedWalBytes: number | null;
}

export interface OutgoingStatusView {
  readonly id: string;
  readonly run: string | null;
  readonly status: SyncStatus;
  readonly destination: { readonly datacenter: string; readonly endpoints: readonly string[] };
  readonly databases: readonly OutgoingDatabaseView[];
  readonly cleanupPending: number;
}

/** GET /status */
export interface StatusResponse {
  readonly datacenter: string;
  /** The incoming sync's status; `inactive` when there is none. */
  readonly status: SyncStatus;
  readonly sync: SyncSummary | null;
  /** The source datacenter's masters (incoming sync). */
  readonly source: readonly string[];
  /** Why the sync failed or what is wrong with the source link right now. */
  readonly error: string | null;
  readonly databases: readonly DatabaseStatusView[];
  readonly tables: readonly TableStatusView[];
  /** Syncs this datacenter sends (it is their source). */
  readonly outgoing: readonly OutgoingStatusView[];
  /** Certificates near expiry (30 days) or expired, in both datacenters. Never holds secrets. */
  readonly warnings: readonly string[];
  /** When the source was last heard from (ISO). */
  readonly sourceCheckedAt: string | null;
  readonly answeredBy: string;
}

/** One sample of a database's lag: [unix time in ms, lagSeconds, lagBytes] (null while unknown, as in StatusResponse). */
export type LagSample = readonly [number, number | null, number | null];

/** GET /status/lag-history */
export interface LagHistoryResponse {
  /** How often the master samples the status. */
  readonly intervalMs: number;
  /** How far back the samples go at most. */
  readonly windowMs: number;
  /** Oldest sample first; a database without a sample in the window is left out. */
  readonly databases: readonly { readonly database: string; readonly samples: readonly LagSample[] }[];
  readonly answeredBy: string;
}

/** POST /syncs/:id/stop */
export interface StopSyncRequest {
  /** How long the leader waits for the source's clean-up before answering; default 60 s. */
  readonly timeoutMs?: number;
}

export interface StopSyncResponse {
  readonly sync: SyncSummary;
  /** True when the source confirmed its slots and publications are gone. */
  readonly sourceCleaned: boolean;
  readonly message: string;
}

export interface ResetTaskResponse {
  readonly taskId: string;
  readonly state: TaskState;
  readonly epoch: number;
}

// ------------------------------------------------------------------------------------------- validators

const MAX_PEM = 64 * 1024;
const MAX_ENDPOINTS = 16;

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw badRequest(`unknown field '${k}' in ${what}`);
}

function pem(o: Record<string, unknown>, key: string, kind: RegExp): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_PEM || !kind.test(v)) throw badRequest(`'${key}' must be PEM text`);
  return v;
}

export function parseEndpointList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_ENDPOINTS) throw badRequest(`'${what}' must list 1 to ${MAX_ENDPOINTS} endpoints`);
  return value.map((e) => {
    if (typeof e !== 'string' || e.length > 512) throw badRequest(`'${what}' must hold https URLs`);
    let url: URL;
    try {
      url = new URL(e);
    } catch {
      throw badRequest(`'${what}': '${e.slice(0, 80)}' is not a URL such as https://master-1.dc-a:8629`);
    }
    if (url.protocol !== 'https:' || url.username !== '' || url.password !== '' || (url.pathname !== '/' && url.pathname !== '')) {
      throw badRequest(`'${what}': '${url.origin}' must be an https URL without credentials or path`);
    }
    return url.origin;
  });
}

function int(o: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw badRequest(`'${key}' must be an integer from ${min} to ${max}`);
  return v;
}

function oneOf<T extends string>(o: Record<string, unknown>, key: string, values: readonly T[]): T | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw badRequest(`'${key}' must be one of ${values.join(', ')}`);
  return v as T;
}

/** Fills in defaults; transactional mode implies one partition. */
export function parseSyncSettings(value: unknown): SyncSettings {
  const o = value === undefined ? {} : object(value, "'settings'");
  onlyKeys(o, ['partitions', 'copySessions', 'applyMode', 'sourceAlias', 'replicationPolicy'], "'settings'");
  const applyMode = oneOf(o, 'applyMode', APPLY_MODES) ?? DEFAULT_SYNC_SETTINGS.applyMode;
  const partitions = int(o, 'partitions', 1, 256) ?? (applyMode === 'transactional' ? 1 : DEFAULT_SYNC_SETTINGS.partitions);
  if (applyMode === 'transactional' && partitions !== 1) throw badRequest("'partitions' must be 1 in transactional mode (source transactions are applied whole, in commit order)");
  const alias = o['sourceAlias'];
  if (alias !== undefined && (typeof alias !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(alias))) throw badRequest("'sourceAlias' must be MirrorMaker 2's alias of the source cluster (letters, digits, '_', '-')");
  return {
    partitions,
    copySessions: int(o, 'copySessions', 1, 32) ?? DEFAULT_SYNC_SETTINGS.copySessions,
    applyMode,
    sourceAlias: (alias as string | undefined) ?? DEFAULT_SYNC_SETTINGS.sourceAlias,
    replicationPolicy: oneOf(o, 'replicationPolicy', REPLICATION_POLICIES) ?? DEFAULT_SYNC_SETTINGS.replicationPolicy,
  };
}

export function parseSyncId(value: unknown): string {
  if (typeof value !== 'string' || !SYNC_ID_PATTERN.test(value)) throw badRequest("'id' must be 1-16 of a-z, 0-9, '_' (it names slots, publications and topics)");
  return value;
}

export function parseConfigureSyncRequest(value: unknown): ConfigureSyncRequest {
  const o = object(value, 'the body');
  onlyKeys(o, ['id', 'source', 'clientKeyfile', 'settings'], 'the body');
  const source = object(o['source'], "'source'");
  onlyKeys(source, ['endpoints', 'cacert'], "'source'");
  return {
    id: o['id'] === undefined ? DEFAULT_SYNC_ID : parseSyncId(o['id']),
    source: { endpoints: parseEndpointList(source['endpoints'], 'source.endpoints'), cacert: pem(source, 'cacert', /-----BEGIN CERTIFICATE-----/) },
    clientKeyfile: pem(o, 'clientKeyfile', /-----BEGIN [A-Z ]*PRIVATE KEY-----/),
    settings: parseSyncSettings(o['settings']),
  };
}

export function parsePeerStartRequest(value: unknown): PeerStartRequest {
  const o = object(value, 'the body');
  onlyKeys(o, ['run', 'destination', 'settings', 'recordKey'], 'the body');
  const recordKey = o['recordKey'];
  if (recordKey !== undefined && (typeof recordKey !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(recordKey))) throw badRequest("'recordKey' must be 32 bytes in base64url");
  const run = o['run'];
  if (typeof run !== 'string' || !RUN_PATTERN.test(run)) throw badRequest("'run' must be 6 of a-z, 0-9");
  const d = object(o['destination'], "'destination'");
  onlyKeys(d, ['datacenter', 'endpoints'], "'destination'");
  const datacenter = d['datacenter'];
  if (typeof datacenter !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(datacenter)) throw badRequest("'destination.datacenter' must be a datacenter name");
  return {
    run,
    destination: { datacenter, endpoints: parseEndpointList(d['endpoints'], 'destination.endpoints') },
    settings: parseSyncSettings(o['settings']),
    ...(typeof recordKey === 'string' ? { recordKey } : {}),
  };
}

export function parseStopSyncRequest(value: unknown): StopSyncRequest {
  if (value === undefined) return {};
  const o = object(value, 'the body');
  onlyKeys(o, ['timeoutMs'], 'the body');
  const t = int(o, 'timeoutMs', 0, 3_600_000);
  return t === undefined ? {} : { timeoutMs: t };
}
