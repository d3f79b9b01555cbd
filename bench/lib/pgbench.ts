/** Runs pgbench against the source database and reads its summary. */
import { pgBin } from '../../tools/local/postgres.ts';
import type { Children } from './proc.ts';

export interface PgbenchResult {
  transactions: number;
  tps: number;
  latencyMs: number;
  output: string;
  ms: number;
}

export async function pgbench(children: Children, pgEnv: Record<string, string>, database: string, args: readonly string[], signal: AbortSignal): Promise<PgbenchResult> {
  const r = await children.run(pgBin('pgbench'), [...args, database], { env: pgEnv, signal });
  const num = (re: RegExp): number => Number(re.exec(r.stdout)?.[1] ?? NaN);
  return {
    transactions: num(/number of transactions actually processed: (\d+)/),
    tps: num(/tps = ([\d.]+)/),
    latencyMs: num(/latency average = ([\d.]+) ms/),
    output: r.stdout,
    ms: r.ms,
  };
}
