import type pg from 'pg';
import { ReplicationError } from '../../core/errors.ts';
import { parseLsn, type Lsn } from '../../core/lsn.ts';
import type { TableId } from '../../model/change.ts';
import { classifyPgError } from './errors.ts';

/** dcsync's own schema: never replicated, never copied. */
export const DCSYNC_SCHEMA = 'dcsync';

export interface SourceTable {
  table: TableId;
  oid: number;
  /** Columns copied and replicated, in attnum order (generated columns excluded: the target computes them). */
  columns: string[];
  /** Primary key, else replica identity index columns, else every column (FULL), else empty. */
  keyColumns: string[];
  /** The identity is the whole row (REPLICA IDENTITY FULL and no key). */
  fullIdentity: boolean;
  /** UPDATE/DELETE cannot be published (no key, not FULL): only inserts and truncates replicate. */
  noIdentity: boolean;
  pages: number;
  estimatedRows: number;
}

const TABLES_SQL = `
SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relreplident AS ident,
       c.relpages::bigint AS pages, greatest(c.reltuples, 0)::bigint AS est_rows,
       (SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum), '{}'::text[]) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS columns,
       (SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum)) FROM pg_index i
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
       (SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum)) FROM pg_index i
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = c.oid AND i.indisreplident) AS ident_cols
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
    pk: string[] | null;
    ident_cols: string[] | null;
  }>(TABLES_SQL);
  return res.rows.map((r) => {
    const key = r.pk ?? (r.ident === 'i' ? r.ident_cols : null);
    const full = !key && r.ident === 'f';
    return {
      table: { schema: r.schema, name: r.name },
      oid: r.oid,
      columns: r.columns,
      keyColumns: key ?? (full ? r.columns : []),
      fullIdentity: full,
      noIdentity: !key && !full,
      pages: Number(r.pages),
      estimatedRows: Number(r.est_rows),
    };
  });
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
 * Two publications per database, so that dcsync never makes the source's own writes fail:
 * `<base>_all` FOR ALL TABLES publishes inserts and truncates (a table without a replica identity may still be
 * updated at the source), `<base>_ident` publishes updates and deletes of the tables that have an identity.
 */
export async function ensurePublications(client: pg.ClientBase, base: string, tables: readonly SourceTable[]): Promise<string[]> {
  const all = `${base}_all`;
  const ident = `${base}_ident`;
  const existing = new Set((await client.query<{ pubname: string }>(`SELECT pubname FROM pg_publication WHERE pubname IN ($1, $2)`, [all, ident])).rows.map((r) => r.pubname));
  try {
    if (!existing.has(all)) await client.query(`CREATE PUBLICATION "${all}" FOR ALL TABLES WITH (publish = 'insert, truncate')`);
    const withIdentity = tables.filter((t) => !t.noIdentity).map((t) => t.table);
    if (!existing.has(ident)) {
      if (withIdentity.length > 0) await client.query(`CREATE PUBLICATION "${ident}" FOR TABLE ${quoteList(withIdentity)} WITH (publish = 'update, delete')`);
      else await client.query(`CREATE PUBLICATION "${ident}" WITH (publish = 'update, delete')`);
    } else if (withIdentity.length > 0) await client.query(`ALTER PUBLICATION "${ident}" SET TABLE ${quoteList(withIdentity)}`);
  } catch (err) {
    throw classifyPgError(err);
  }
  return [all, ident];
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
