/**
 * The sync A→B of a local deployment, through the CLI as an operator would run it: `dcsync configure sync` and
 * `dcsync get status --json`, spawned as `node bin/dcsync.js …` with the password in DCSYNC_AUTH_PASSWORD.
 * Everything that depends on those commands' flags and output is in this file.
 */
import { DcsyncError } from '../../src/core/errors.ts';
import { runDcsync } from './dcsync-process.ts';
import { datacenterOf, type LocalState } from './state.ts';

export const SYNC_STATUSES = ['inactive', 'initializing', 'initial-sync', 'running', 'cancelling', 'failed'] as const;
export type SyncStatusName = (typeof SYNC_STATUSES)[number];

export interface SyncTableStatus {
  readonly database: string;
  readonly table: string;
  readonly status: string;
  readonly rowsCopied: number | null;
  readonly rowsTotal: number | null;
  readonly lagSeconds: number | null;
  readonly lagBytes: number | null;
}

/** What `dcsync get status --json` prints (the fields this code reads; the rest is kept as it came). */
export interface SyncStatus {
  readonly status: SyncStatusName;
  readonly tables: readonly SyncTableStatus[];
  readonly [key: string]: unknown;
}

/** `get status` printed something that is not the status document. */
export class SyncStatusFormatError extends DcsyncError {}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Parses and checks `dcsync get status --json` output. */
export function parseSyncStatus(text: string): SyncStatus {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SyncStatusFormatError(`'get status --json' printed no JSON: ${text.slice(0, 200)}`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SyncStatusFormatError("'get status --json' printed no object");
  const o = raw as Record<string, unknown>;
  if (typeof o['status'] !== 'string' || !(SYNC_STATUSES as readonly string[]).includes(o['status'])) {
    throw new SyncStatusFormatError(`'get status --json': status must be one of ${SYNC_STATUSES.join(', ')} (got ${JSON.stringify(o['status'])})`);
  }
  const tablesRaw = o['tables'] ?? [];
  if (!Array.isArray(tablesRaw)) throw new SyncStatusFormatError("'get status --json': tables must be an array");
  const tables = tablesRaw.map((t: unknown, i): SyncTableStatus => {
    if (typeof t !== 'object' || t === null) throw new SyncStatusFormatError(`'get status --json': tables[${i}] must be an object`);
    const r = t as Record<string, unknown>;
    return {
      database: String(r['database'] ?? ''),
      table: String(r['table'] ?? ''),
      status: String(r['status'] ?? ''),
      rowsCopied: num(r['rowsCopied']),
      rowsTotal: num(r['rowsTotal']),
      lagSeconds: num(r['lagSeconds']),
      lagBytes: num(r['lagBytes']),
    };
  });
  return { ...o, status: o['status'] as SyncStatusName, tables };
}

/** Caught up: the sync runs, it has tables, and every table has no lag (0 bytes behind, or less than a second). */
export function isCaughtUp(s: SyncStatus): boolean {
  return s.status === 'running' && s.tables.length > 0 && s.tables.every((t) => t.lagBytes === 0 || (t.lagSeconds !== null && t.lagSeconds < 1));
}

/** The arguments of `dcsync configure sync` A→B for a local deployment (the password goes in the environment). */
export function configureSyncArgs(state: LocalState): string[] {
  const a = datacenterOf(state, 'dc-a');
  const b = datacenterOf(state, 'dc-b');
  return [
    'configure', 'sync',
    '--master.endpoint', b.masters.join(','),
    '--master.cacert', state.files.tlsCaCert,
    '--source.endpoint', a.masters.join(','),
    '--source.cacert', state.files.tlsCaCert,
    '--master.keyfile', state.files.clientKeyfile,
    '--auth.user', state.superuser,
  ];
}

/** The arguments of `dcsync get status --json` at B (the incoming side, which sees both ends). */
export function syncStatusArgs(state: LocalState): string[] {
  const b = datacenterOf(state, 'dc-b');
  return ['get', 'status', '--master.endpoint', b.masters.join(','), '--master.cacert', state.files.tlsCaCert, '--auth.user', state.superuser, '--json'];
}

export interface SyncCommandOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Configures the sync A→B (every database of A); rejects with DcsyncCommandError (with its stderr) unless it exits 0. */
export async function configureLocalSync(state: LocalState, password: string, opts: SyncCommandOptions = {}): Promise<void> {
  await runDcsync(configureSyncArgs(state), { env: { DCSYNC_AUTH_PASSWORD: password }, timeoutMs: opts.timeoutMs ?? 120_000, ...(opts.signal ? { signal: opts.signal } : {}) });
}

/** The sync's status as B's masters report it. */
export async function localSyncStatus(state: LocalState, password: string, opts: SyncCommandOptions = {}): Promise<SyncStatus> {
  const out = await runDcsync(syncStatusArgs(state), { env: { DCSYNC_AUTH_PASSWORD: password }, timeoutMs: opts.timeoutMs ?? 30_000, ...(opts.signal ? { signal: opts.signal } : {}) });
  return parseSyncStatus(out);
}
