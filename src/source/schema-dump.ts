import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { libpqTlsEnv, splitPgTls } from '../postgres/tls.ts';
import { DcsyncError } from '../core/errors.ts';
import { DCSYNC_SCHEMA } from './catalog.ts';

export interface SchemaDump {
  /** Types, tables, sequences, functions: what must exist before data arrives. */
  preData: string;
  /** Indexes, constraints, triggers: created after the initial copy (loading into bare tables is faster). */
  postData: string;
}

export function pgDumpPath(): string {
  const debian = '/usr/lib/postgresql/15/bin/pg_dump';
  return process.env['DCSYNC_PG_DUMP'] ?? (existsSync(debian) ? debian : 'pg_dump');
}

/**
 * The structure of one database, as of an exported snapshot, so that it matches the copied data exactly.
 * The password travels in the environment, never on the command line, and so do the URL's TLS settings
 * (PGSSLMODE, PGSSLROOTCERT, …): pg_dump verifies the server exactly as dcsync's own connections do.
 */
export async function dumpSchema(url: string, snapshotName: string): Promise<SchemaDump> {
  const [preData, postData] = await Promise.all([runDump(url, snapshotName, 'pre-data'), runDump(url, snapshotName, 'post-data')]);
  return { preData, postData };
}

async function runDump(url: string, snapshot: string, section: 'pre-data' | 'post-data'): Promise<string> {
  const { url: plain, tls } = splitPgTls(url);
  const u = new URL(plain);
  const password = decodeURIComponent(u.password);
  u.password = '';
  const args = [
    `--dbname=${u.toString()}`,
    `--section=${section}`,
    `--snapshot=${snapshot}`,
    '--no-owner',
    '--no-privileges',
    '--no-publications',
    '--no-subscriptions',
    '--no-security-labels',
    `--exclude-schema=${DCSYNC_SCHEMA}`,
  ];
  const env = { ...process.env, ...(password ? { PGPASSWORD: password } : {}), ...libpqTlsEnv(tls) };
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(pgDumpPath(), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', (e) => reject(new DcsyncError(`cannot run pg_dump (${pgDumpPath()}): ${e.message}; install postgresql-client 15`, { cause: e })));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(chunks).toString('utf8'));
      else reject(new DcsyncError(`pg_dump --section=${section} failed (exit ${code}): ${err.trim()}`, { retriable: /could not connect|timeout/i.test(err) }));
    });
  });
  return stripMetaCommands(out);
}

/**
 * pg_dump (15.14 and later) wraps its output in psql meta-commands (\restrict, \unrestrict) that protect psql;
 * we execute the SQL over the protocol, where meta-commands are not understood and no psql is involved.
 */
export function stripMetaCommands(sql: string): string {
  return sql
    .split('\n')
    .filter((line) => !/^\\(restrict|unrestrict)\b/.test(line))
    .join('\n');
}
