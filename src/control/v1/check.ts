/**
 * `check sync`: the operator's routes at the destination's masters, the peer routes at the source's masters, and the
 * result document (docs/check.md describes it for operators, docs/openapi.yaml for clients).
 */
import { badRequest } from '../errors.ts';

export const CHECK_PATHS = {
  /** operator, destination: start a check of the incoming sync (answers 202 with the check's id). */
  checks: '/syncs/:id/checks',
  /** operator, destination: a check's progress, then its result. */
  check: '/syncs/:id/checks/:check',
  /** peer, source: take the check's cut in one database (lock, snapshot, marker); answers the tables. */
  peerChecks: '/peer/outgoing-syncs/:id/checks',
  /** peer, source: hash chunks (or list their rows) in the cut's snapshot; DELETE releases the snapshots. */
  peerCheck: '/peer/outgoing-syncs/:id/checks/:check',
} as const;

export const CHECK_ID_PATTERN = /^[a-z0-9-]{1,64}$/;

/** A table as the check compares it: `keyColumns` empty means compared as a multiset of whole rows. */
export interface CheckedTableInfo {
  readonly schema: string;
  readonly name: string;
  readonly keyColumns: readonly string[];
  readonly estimatedRows: number;
}

export interface StartCheckRequest {
  /** Databases to check; empty: every database of the sync. */
  readonly databases: readonly string[];
  /** `schema.table` names, checked in whichever selected database holds them; empty: every replicated table. */
  readonly tables: readonly string[];
}

export interface KeyRangeView {
  /** The key's column values as text (for a table without key: the row's text). */
  readonly from: readonly string[];
  readonly to: readonly string[];
  readonly rows: number;
}

export interface TableCheckView {
  readonly schema: string;
  readonly name: string;
  /** Empty: the table has no key and is compared as a multiset of rows. */
  readonly keyColumns: readonly string[];
  readonly equal: boolean;
  readonly rowsAtSource: number;
  readonly rowsAtDestination: number;
  readonly missingAtDestination: number;
  readonly extraAtDestination: number;
  /** Same key, other values (always 0 for a table without key: a changed row is one missing and one extra). */
  readonly different: number;
  readonly ranges: { readonly missing: KeyRangeView[]; readonly extra: KeyRangeView[]; readonly different: KeyRangeView[] };
  /** Ranges left out of `ranges` (the counts above include them). */
  readonly rangesOmitted: number;
  /** false: more rows differed than one check compares row by row; the counts cover the rows compared. */
  readonly complete: boolean;
}

export interface DatabaseCheckView {
  readonly database: string;
  /** Where the check cut the stream: the end LSN of its marker at the source. */
  readonly markerLsn: string;
  readonly tables: TableCheckView[];
}

export type CheckState = 'running' | 'equal' | 'different' | 'failed';

export interface CheckView {
  readonly id: string;
  readonly syncId: string;
  /** `running`; then `equal` (every checked table is equal), `different`, or `failed` (see `error`). */
  readonly state: CheckState;
  /** What the check does right now, in words. */
  readonly phase: string;
  readonly progress: { readonly tablesDone: number; readonly tablesTotal: number; readonly rowsHashed: number };
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly error: string | null;
  readonly databases: DatabaseCheckView[];
}

export interface PeerCutRequest {
  readonly checkId: string;
  readonly database: string;
  readonly tables: readonly string[];
}

export interface PeerCutResponse {
  /** null: the database has none of the tables named, no cut was taken. */
  readonly markerLsn: string | null;
  readonly tables: CheckedTableInfo[];
  /** Tables named that this database does not replicate. */
  readonly unknownTables: string[];
}

export interface PeerHashRequest {
  readonly database: string;
  readonly table: { readonly schema: string; readonly name: string; readonly keyColumns: readonly string[] };
  /** [lo, hi) pairs of the key-hash space. */
  readonly ranges: readonly (readonly [number, number])[];
  readonly what: 'stats' | 'rows';
}

export interface PeerHashResponse {
  /** what=stats: per range, [rows, sum of row hashes]. */
  readonly stats?: [number, string][];
  /** what=rows: [key, row hash, occurrences]. */
  readonly rows?: [string, string, number][];
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw badRequest(`${what}: unknown key '${k}'`);
}

function names(value: unknown, what: string, pattern: RegExp, example: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 10_000) throw badRequest(`'${what}' must be a list`);
  return value.map((v) => {
    if (typeof v !== 'string' || !pattern.test(v)) throw badRequest(`'${what}': ${JSON.stringify(v).slice(0, 80)} is not ${example}`);
    return v;
  });
}

const DATABASE = /^[^\0]{1,63}$/;
/** `schema.table`: a dot separates the two; names with dots are not supported here. */
const TABLE = /^[^.\0]{1,63}\.[^.\0]{1,63}$/;

export function parseCheckId(value: unknown): string {
  if (typeof value !== 'string' || !CHECK_ID_PATTERN.test(value)) throw badRequest("'check' must be a check id (a-z, 0-9, '-')");
  return value;
}

export function parseStartCheckRequest(value: unknown): StartCheckRequest {
  const o = value === undefined ? {} : object(value, 'the body');
  onlyKeys(o, ['databases', 'tables'], 'the body');
  return { databases: names(o['databases'], 'databases', DATABASE, 'a database name'), tables: names(o['tables'], 'tables', TABLE, 'a table as schema.table') };
}

export function parsePeerCutRequest(value: unknown): PeerCutRequest {
  const o = object(value, 'the body');
  onlyKeys(o, ['checkId', 'database', 'tables'], 'the body');
  const database = o['database'];
  if (typeof database !== 'string' || !DATABASE.test(database)) throw badRequest("'database' must be a database name");
  return { checkId: parseCheckId(o['checkId']), database, tables: names(o['tables'], 'tables', TABLE, 'a table as schema.table') };
}

const MAX_RANGES = 100_000;

export function parsePeerHashRequest(value: unknown): PeerHashRequest {
  const o = object(value, 'the body');
  onlyKeys(o, ['database', 'table', 'ranges', 'what'], 'the body');
  const database = o['database'];
  if (typeof database !== 'string' || !DATABASE.test(database)) throw badRequest("'database' must be a database name");
  const t = object(o['table'], "'table'");
  onlyKeys(t, ['schema', 'name', 'keyColumns'], "'table'");
  const { schema, name } = t;
  if (typeof schema !== 'string' || typeof name !== 'string') throw badRequest("'table' needs 'schema' and 'name'");
  const keyColumns = t['keyColumns'];
  if (!Array.isArray(keyColumns) || !keyColumns.every((c): c is string => typeof c === 'string')) throw badRequest("'table.keyColumns' must list column names");
  const ranges = o['ranges'];
  if (!Array.isArray(ranges) || ranges.length > MAX_RANGES) throw badRequest(`'ranges' must list at most ${MAX_RANGES} [lo, hi] pairs`);
  const parsed = ranges.map((r): [number, number] => {
    if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => Number.isSafeInteger(x))) throw badRequest("'ranges' must hold [lo, hi] integer pairs");
    return [r[0] as number, r[1] as number];
  });
  const what = o['what'];
  if (what !== 'stats' && what !== 'rows') throw badRequest("'what' must be 'stats' or 'rows'");
  return { database, table: { schema, name, keyColumns }, ranges: parsed, what };
}
