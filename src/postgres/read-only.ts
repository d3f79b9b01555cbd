/**
 * Keeping applications out of a destination database while it syncs. New sessions of the database start read-only
 * (`ALTER DATABASE … SET default_transaction_read_only = on`), so an application's INSERT, UPDATE or DELETE fails
 * with "cannot execute … in a read-only transaction" instead of diverging from A or being overwritten. dcsync's
 * own sessions turn it off (connection.ts); so can a superuser, by hand, for a repair.
 */
import type pg from 'pg';

export async function setApplicationsReadOnly(c: pg.ClientBase, database: string, readOnly: boolean): Promise<void> {
  const template = readOnly ? 'ALTER DATABASE %I SET default_transaction_read_only = on' : 'ALTER DATABASE %I RESET default_transaction_read_only';
  const sql = (await c.query<{ sql: string }>(`SELECT format($1, $2::text) AS sql`, [template, database])).rows[0]!.sql;
  await c.query(sql);
}

/** Whether new sessions of the connected database (any role) start read-only, as ALTER DATABASE set it. */
export async function applicationsReadOnly(c: pg.ClientBase): Promise<boolean> {
  const r = await c.query<{ on: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
                     WHERE d.datname = current_database() AND s.setrole = 0 AND 'default_transaction_read_only=on' = ANY (s.setconfig)) AS on`,
  );
  return r.rows[0]?.on ?? false;
}
