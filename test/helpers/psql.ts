import pg from 'pg';
import { spawn } from 'node:child_process';
import { pgBin, type PgClusterHandle } from '../../tools/local/postgres.ts';

/** Runs psql (ON_ERROR_STOP) against a database of the cluster, with a file or a command. */
export async function psql(pg: PgClusterHandle, database: string, input: { file?: string; command?: string }): Promise<string> {
  const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', database];
  if (input.file) args.push('-f', input.file);
  if (input.command) args.push('-c', input.command);
  return run(pgBin('psql'), args, pg.pgEnv());
}

export async function run(cmd: string, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

/** Runs one statement on a fresh connection and returns its rows. */
export async function queryRows<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}
