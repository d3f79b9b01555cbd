import type pg from 'pg';
import { ReplicationError } from '../core/errors.ts';
import { parseLsn, type Lsn } from '../core/lsn.ts';
import type { TableId } from '../model/change.ts';
import { classifyPgError, PostgresError } from '../postgres/errors.ts';

/** dcsync's own schema: never replicated, never copied. */
export const DCSYNC_SCHEMA = 'dcsync';

/** pg_class.relreplident: 'd' default (the primary key), 'n' nothing, 'f' full (every column), 'i' an index. */
export type ReplicaIdentitySetting = 'd' | 'n' | 'f' | 'i';

/**
 * What a table's changes depend on, as the source announced it with the initial copy: its identity (oid), columns
 * with their types and modifiers, and its replica identity. pgoutput's Relation message carries the same, so a
 * change of any of them is seen at its exact place in the stream (see tableShapeChange).
 */
export interface TableShape {
  oid: number;
  /** Columns copied and replicated, in attnum order (generated columns excluded: the target computes them). */
  columns: string[];
  /** pg_attribute.atttypid and atttypmod of each column. */
  types: number[];
  typmods: number[];
  identity: ReplicaIdentitySetting;
  /** The columns an old tuple carries (pgoutput's key flags): the identity index's, every column with FULL, else none. */
  identityColumns: string[];
}

export interface SourceTable extends TableShape {
  table: TableId;
  /**
   * The key of its changes at the destination: the columns its old tuples actually carry. The primary key with
   * REPLICA IDENTITY DEFAULT or FULL, the index's columns with USING INDEX, every column with FULL and no primary key,
   * else empty.
   */
  keyColumns: string[];
  /** The identity is the whole row (REPLICA IDENTITY FULL and no primary key). */
  fullIdentity: boolean;
  /** UPDATE/DELETE cannot be published (REPLICA IDENTITY NOTHING, or DEFAULT without a primary key, or USING INDEX
   * of a dropped index): only inserts and truncates replicate. */
  noIdentity: boolean;
  /**
   * A unique index or exclusion constraint other than the key's: two rows of different keys can conflict, so in
   * parallel mode the table's changes stay in one partition, in their source order.
   */
  otherUniqueness: boolean;
  pages: number;
  estimatedRows: number;
}

const TABLES_SQL = `
SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relreplident AS ident,
       c.relpages::bigint AS pages, greatest(c.reltuples, 0)::bigint AS est_rows,
       (SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum), '{}'::text[]) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS columns,
       (SELECT coalesce(array_agg(a.atttypid::int ORDER BY a.attnum), '{}'::int[]) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS types,
       (SELECT coalesce(array_agg(a.atttypmod ORDER BY a.attnum), '{}'::int[]) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS typmods,
       (SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum)) FROM pg_index i
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
       (SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum)) FROM pg_index i
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = c.oid AND i.indisreplident) AS ident_cols,
       (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique
           AND NOT CASE c.relreplident WHEN 'i' THEN i.indisreplident WHEN 'n' THEN false ELSE i.indisprimary END)
         + (SELECT count(*) FROM pg_constraint x WHERE x.conrelid = c.oid AND x.contype = 'x') > 0 AS other_unique
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', '${DCSYNC_SCHEMA}')
   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
   AND c.relpersistence = 'p'
 ORDER BY n.nspname, c.relname`;

export async function listSourceTables(client: pg.ClientBase): Promise<SourceTable[]> {
  const res = await client.query<{
    oid: number;
    schema: string;
    name: string;
    ident: string;
    pages: string;
    est_rows: string;
    columns: string[];
    types: number[];
    typmods: number[];
    pk: string[] | null;
    ident_cols: string[] | null;
    other_unique: boolean;
  }>(TABLES_SQL);
  return res.rows.map((r) => ({
    table: { schema: r.schema, name: r.name },
    oid: r.oid,
    columns: r.columns,
    types: r.types,
    typmods: r.typmods,
    ...identityOf(r.ident as ReplicaIdentitySetting, r.columns, r.pk, r.ident_cols),
    otherUniqueness: r.other_unique,
    pages: Number(r.pages),
    estimatedRows: Number(r.est_rows),
  }));
}

/**
 * What a table's replica identity means for its changes. The key at the destination is what the old tuple of an
 * UPDATE or DELETE carries, never simply the primary key: with USING INDEX the old tuple holds the index's columns only.
 */
export function identityOf(
  identity: ReplicaIdentitySetting,
  columns: string[],
  pk: string[] | null,
  identCols: string[] | null,
): Pick<SourceTable, 'identity' | 'identityColumns' | 'keyColumns' | 'fullIdentity' | 'noIdentity'> {
  const carried = identity === 'd' ? pk : identity === 'i' ? identCols : identity === 'f' ? columns : null;
  const none = { identity, identityColumns: [], keyColumns: [], fullIdentity: false, noIdentity: true };
  if (!carried) return none;
  if (identity === 'f') return { identity, identityColumns: columns, keyColumns: pk ?? columns, fullIdentity: !pk, noIdentity: false };
  // In attnum order, as pgoutput flags them; the key keeps the index's order.
  return { identity, identityColumns: columns.filter((c) => carried.includes(c)), keyColumns: carried, fullIdentity: false, noIdentity: false };
}

/**
 * How `now` differs from what was announced (undefined: it does not), in words for the operator. Column order,
 * names, types and modifiers, the oid (a table dropped and created again) and the replica identity all count:
 * a change of any of them would make the destination's copy diverge.
 */
export function tableShapeChange(announced: TableShape, now: TableShape): string | undefined {
  if (now.oid !== announced.oid) return `it was dropped and created again (oid ${announced.oid} is now ${now.oid})`;
  if (now.columns.join('\u0000') !== announced.columns.join('\u0000'))
    return `its columns changed (now: ${now.columns.join(', ')}; announced: ${announced.columns.join(', ')})`;
  for (let i = 0; i < now.columns.length; i++)
    if (now.types[i] !== announced.types[i] || now.typmods[i] !== announced.typmods[i])
      return `the type of column ${now.columns[i]} changed (type oid ${announced.types[i]}, modifier ${announced.typmods[i]} is now ${now.types[i]}, ${now.typmods[i]})`;
  if (now.identity !== announced.identity || now.identityColumns.join('\u0000') !== announced.identityColumns.join('\u0000'))
    return `its replica identity changed (now ${identityWords(now)}; announced: ${identityWords(announced)})`;
  return undefined;
}

function identityWords(s: TableShape): string {
  const cols = s.identityColumns.length > 0 ? ` (${s.identityColumns.join(', ')})` : '';
  return `${{ d: 'DEFAULT', n: 'NOTHING', f: 'FULL', i: 'USING INDEX' }[s.identity]}${cols}`;
}

export async function listDatabases(client: pg.ClientBase): Promise<string[]> {
  const res = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname`);
  return res.rows.map((r) => r.datname);
}

/**
 * Checks what logical replication needs and says exactly what to set. Run on a normal connection.
 */
export async function checkSourceServer(client: pg.ClientBase, role: string): Promise<void> {
  const res = await client.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_replication_slots', 'max_wal_senders', 'server_encoding')`,
  );
  const s = Object.fromEntries(res.rows.map((r) => [r.name, r.setting]));
  if (s['wal_level'] !== 'logical')
    throw new ReplicationError(`the source server has wal_level=${s['wal_level']}; set wal_level = logical in postgresql.conf and restart PostgreSQL`);
  if (Number(s['max_replication_slots']) < 1 || Number(s['max_wal_senders']) < 2)
    throw new ReplicationError(
      `the source server allows max_replication_slots=${s['max_replication_slots']}, max_wal_senders=${s['max_wal_senders']}; dcsync needs one slot per database and two senders per database: raise both and restart PostgreSQL`,
    );
  if (s['server_encoding'] !== 'UTF8') throw new ReplicationError(`the source server encoding is ${s['server_encoding']}; dcsync supports UTF8 only`);
  const priv = await client.query<{ rolreplication: boolean; rolsuper: boolean }>(`SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user`);
  const r = priv.rows[0];
  if (!r || (!r.rolreplication && !r.rolsuper))
    throw new ReplicationError(`role '${role}' lacks the REPLICATION attribute: ALTER ROLE "${role}" WITH REPLICATION (it also needs SELECT on the replicated tables)`);
  if (!r.rolsuper) await checkSourcePrivileges(client);
}

/** A source role lacks privileges on the database's objects; `grants` are the statements that give them. */
export class SourcePrivilegeError extends ReplicationError {
  constructor(
    readonly database: string,
    readonly role: string,
    readonly grants: readonly string[],
  ) {
    super(
      `role '${role}' lacks privileges dcsync needs in database '${database}' (CREATE for its own schema '${DCSYNC_SCHEMA}', USAGE on the schemas, SELECT on the tables and sequences to copy and dump). Have the owner or a superuser run, connected to database '${database}':\n${grants.map((g) => `  ${g}`).join('\n')}`,
    );
  }
}

const MISSING_PRIVILEGES_SQL = `
SELECT current_database() AS database, current_user AS role,
       has_database_privilege(current_database(), 'CREATE') AS can_create,
       coalesce((SELECT array_agg(DISTINCT n.nspname::text ORDER BY n.nspname::text) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'S') AND ${userSchemas('n')} AND NOT has_schema_privilege(n.oid, 'USAGE')), '{}') AS no_usage,
       coalesce((SELECT array_agg(DISTINCT n.nspname::text ORDER BY n.nspname::text) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND ${userSchemas('n')} AND NOT has_table_privilege(c.oid, 'SELECT')), '{}') AS no_select,
       coalesce((SELECT array_agg(DISTINCT n.nspname::text ORDER BY n.nspname::text) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'S' AND ${userSchemas('n')} AND NOT has_table_privilege(c.oid, 'SELECT')), '{}') AS no_seq_select`;

/** Schemas dcsync replicates: all but the catalogs, TOAST and temporary schemas, and its own. */
function userSchemas(n: string): string {
  return `${n}.nspname NOT IN ('pg_catalog', 'information_schema', '${DCSYNC_SCHEMA}') AND ${n}.nspname NOT LIKE 'pg\\_toast%' AND ${n}.nspname NOT LIKE 'pg\\_temp%'`;
}

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * What a non-superuser source role needs in each source database, beyond REPLICATION: CREATE on the database
 * (dcsync keeps its progress in schema dcsync, created with CREATE SCHEMA IF NOT EXISTS, which checks CREATE even
 * when the schema exists), USAGE on every schema with tables, SELECT on every table (the initial copy, and pg_dump
 * locks each table it dumps) and on every sequence (pg_dump reads them). Throws SourcePrivilegeError with the GRANTs.
 */
export async function checkSourcePrivileges(client: pg.ClientBase): Promise<void> {
  const res = await client.query<{ database: string; role: string; can_create: boolean; no_usage: string[]; no_select: string[]; no_seq_select: string[] }>(MISSING_PRIVILEGES_SQL);
  const r = res.rows[0]!;
  const role = ident(r.role);
  const grants = [
    ...(r.can_create ? [] : [`GRANT CREATE ON DATABASE ${ident(r.database)} TO ${role};`]),
    ...r.no_usage.map((n) => `GRANT USAGE ON SCHEMA ${ident(n)} TO ${role};`),
    ...r.no_select.map((n) => `GRANT SELECT ON ALL TABLES IN SCHEMA ${ident(n)} TO ${role};`),
    ...r.no_seq_select.map((n) => `GRANT SELECT ON ALL SEQUENCES IN SCHEMA ${ident(n)} TO ${role};`),
  ];
  if (grants.length > 0) throw new SourcePrivilegeError(r.database, r.role, grants);
}

export interface CreatedSlot {
  slot: string;
  consistentPoint: Lsn;
  snapshotName: string;
}

/** Creates a logical slot (pgoutput) exporting a snapshot; run on a replication connection. */
export async function createSlotWithSnapshot(repl: pg.Client, slot: string, temporary: boolean): Promise<CreatedSlot> {
  try {
    const res = await repl.query<{ slot_name: string; consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT "${slot}" ${temporary ? 'TEMPORARY ' : ''}LOGICAL pgoutput (SNAPSHOT 'export')`,
    );
    const row = res.rows[0]!;
    return { slot: row.slot_name, consistentPoint: parseLsn(row.consistent_point), snapshotName: row.snapshot_name };
  } catch (err) {
    throw classifyPgError(err);
  }
}

export async function slotExists(client: pg.ClientBase, slot: string): Promise<boolean> {
  const res = await client.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
  return (res.rowCount ?? 0) > 0;
}

/** Drops a slot; a slot still held by a dying walsender is a retriable error (55006). */
export async function dropSlot(client: pg.ClientBase, slot: string): Promise<void> {
  try {
    await client.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
  } catch (err) {
    throw classifyPgError(err);
  }
}

function quoteList(tables: readonly TableId[]): string {
  return tables.map((t) => `"${t.schema.replace(/"/g, '""')}"."${t.name.replace(/"/g, '""')}"`).join(', ');
}

/**
 * dcsync's publications are missing or wrong and the source role may not fix them (PostgreSQL requires a superuser
 * for FOR ALL TABLES, and ownership of the tables for FOR TABLE): `statements` are what a superuser must run.
 */
export class PublicationPrivilegeError extends ReplicationError {
  constructor(
    readonly database: string,
    readonly role: string,
    readonly statements: readonly string[],
    cause?: unknown,
  ) {
    super(
      `role '${role}' may not create or change dcsync's publications in database '${database}' (PostgreSQL requires a superuser for FOR ALL TABLES, and ownership of the tables for FOR TABLE). Have a superuser run, connected to database '${database}':\n${statements.map((st) => `  ${st}`).join('\n')}\nthen restart the source task.`,
      { cause },
    );
  }
}

export interface PublicationRow {
  pubname: string;
  puballtables: boolean;
  pubinsert: boolean;
  pubupdate: boolean;
  pubdelete: boolean;
  pubtruncate: boolean;
  /** The tables of a FOR TABLE publication. */
  tables: TableId[];
}

/**
 * The statements that make the two publications what `ensurePublications` needs; empty when they already are.
 * Publications made beforehand by a superuser (see docs/security.md) are used as they are.
 */
export function publicationStatements(base: string, tables: readonly SourceTable[], existing: readonly PublicationRow[]): string[] {
  const all = `${base}_all`;
  const identPub = `${base}_ident`;
  const createAll = `CREATE PUBLICATION ${ident(all)} FOR ALL TABLES WITH (publish = 'insert, truncate');`;
  const withIdentity = tables.filter((t) => !t.noIdentity).map((t) => t.table);
  const createIdent =
    withIdentity.length > 0
      ? `CREATE PUBLICATION ${ident(identPub)} FOR TABLE ${quoteList(withIdentity)} WITH (publish = 'update, delete');`
      : `CREATE PUBLICATION ${ident(identPub)} WITH (publish = 'update, delete');`;
  const out: string[] = [];
  const a = existing.find((p) => p.pubname === all);
  if (!a) out.push(createAll);
  else if (!a.puballtables) out.push(`DROP PUBLICATION ${ident(all)};`, createAll);
  else if (!a.pubinsert || !a.pubtruncate || a.pubupdate || a.pubdelete) out.push(`ALTER PUBLICATION ${ident(all)} SET (publish = 'insert, truncate');`);
  const i = existing.find((p) => p.pubname === identPub);
  if (!i) out.push(createIdent);
  else if (i.puballtables) out.push(`DROP PUBLICATION ${ident(identPub)};`, createIdent);
  else {
    if (i.pubinsert || i.pubtruncate || !i.pubupdate || !i.pubdelete) out.push(`ALTER PUBLICATION ${ident(identPub)} SET (publish = 'update, delete');`);
    const key = (t: TableId): string => `${t.schema}\u0000${t.name}`;
    const want = new Set(withIdentity.map(key));
    const have = new Set(i.tables.map(key));
    if (want.size !== have.size || [...want].some((k) => !have.has(k))) {
      if (withIdentity.length > 0) out.push(`ALTER PUBLICATION ${ident(identPub)} SET TABLE ${quoteList(withIdentity)};`);
      else out.push(`ALTER PUBLICATION ${ident(identPub)} DROP TABLE ${quoteList(i.tables)};`);
    }
  }
  return out;
}

/**
 * Two publications per database, so that dcsync never makes the source's own writes fail:
 * `<base>_all` FOR ALL TABLES publishes inserts and truncates (a table without a replica identity may still be
 * updated at the source), `<base>_ident` publishes updates and deletes of the tables that have an identity.
 * Existing publications that are right are used as they are (a non-superuser role can use publications a superuser
 * made); what is missing or wrong is created or changed in one transaction, and when the role may not do that,
 * PublicationPrivilegeError says exactly what a superuser must run.
 */
export async function ensurePublications(client: pg.ClientBase, base: string, tables: readonly SourceTable[]): Promise<string[]> {
  const all = `${base}_all`;
  const identPub = `${base}_ident`;
  const existing = (
    await client.query<PublicationRow>(
      `SELECT p.pubname, p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate,
              coalesce((SELECT json_agg(json_build_object('schema', n.nspname, 'name', c.relname)) FROM pg_publication_rel pr
                JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE pr.prpubid = p.oid), '[]') AS tables
         FROM pg_publication p WHERE p.pubname IN ($1, $2)`,
      [all, identPub],
    )
  ).rows;
  const statements = publicationStatements(base, tables, existing);
  if (statements.length === 0) return [all, identPub];
  try {
    await client.query('BEGIN');
    for (const st of statements) await client.query(st);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    const e = classifyPgError(err);
    if (e instanceof PostgresError && e.code === '42501') {
      const who = await client.query<{ database: string; role: string }>(`SELECT current_database() AS database, current_user AS role`);
      throw new PublicationPrivilegeError(who.rows[0]!.database, who.rows[0]!.role, statements, err);
    }
    throw e;
  }
  return [all, identPub];
}

export async function dropPublications(client: pg.ClientBase, base: string): Promise<void> {
  await client.query(`DROP PUBLICATION IF EXISTS "${base}_all", "${base}_ident"`);
}

/** Counters of rows updated or deleted, for the tables whose updates and deletes cannot be published. */
export async function updateDeleteCounters(client: pg.ClientBase, oids: readonly number[]): Promise<Map<number, number>> {
  if (oids.length === 0) return new Map();
  const res = await client.query<{ relid: number; n: string }>(
    `SELECT relid::int AS relid, (n_tup_upd + n_tup_del)::bigint AS n FROM pg_stat_user_tables WHERE relid = ANY ($1::oid[])`,
    [oids],
  );
  return new Map(res.rows.map((r) => [r.relid, Number(r.n)]));
}
