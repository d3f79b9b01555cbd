/**
 * Goal 4: `check sync`'s hashing rate, rows per second per side, on pgbench_accounts. With the source quiet after
 * the initial copy, each side's first round (every chunk's summary, the whole table read once) is timed alone, A
 * then B, each in a REPEATABLE READ session like the check's; then the whole comparison with both sides at once.
 * The cut and the marker are not part of it (integration tests cover them); this measures the SQL.
 */
import pg from 'pg';
import { SnapshotHasher } from '../src/check/snapshot-hasher.ts';
import { initialRanges } from '../src/check/hash-ranges.ts';
import { checkTable, DEFAULT_TABLE_CHECK } from '../src/check/table-check.ts';
import { connect } from '../src/postgres/connection.ts';
import { SOURCE_DB, type Bench } from './lib/context.ts';
import { rate, secs } from './lib/report.ts';

export interface CheckResult {
  rows: number;
  sourceMs: number;
  destinationMs: number;
  /** Both sides at once, through the bisection (one round when equal). */
  compareMs: number;
  equal: boolean;
  load: string;
}

const TABLE = { schema: 'public', name: 'pgbench_accounts', keyColumns: ['aid'] };

async function hasherAt(url: string): Promise<SnapshotHasher> {
  const c: pg.Client = await connect({ url, applicationName: 'dcsync-bench-check' });
  await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  return new SnapshotHasher(c);
}

export async function runCheck(ctx: Bench): Promise<CheckResult> {
  // Earlier phases may have stopped dcsync's source (the native peer's turn): B first takes in what A has now.
  await ctx.dcsync.startSource();
  await ctx.dcsync.startDestination();
  await ctx.dcsync.waitCaughtUp(await ctx.currentLsn(), ctx.signal, 300_000, 200);
  const load = ctx.load();
  ctx.say(`check: load average ${load}`);
  const rows = Number((await ctx.src.one<{ n: string }>('SELECT count(*) AS n FROM pgbench_accounts')).n);
  const a = await hasherAt(ctx.env.pgA.url(SOURCE_DB));
  const b = await hasherAt(ctx.dcsync.targetUrl);
  try {
    const ranges = initialRanges(rows, DEFAULT_TABLE_CHECK.chunkRows, DEFAULT_TABLE_CHECK.maxChunks);
    const timed = async (h: SnapshotHasher): Promise<number> => {
      const started = performance.now();
      await h.stats(TABLE, ranges);
      return performance.now() - started;
    };
    const sourceMs = await timed(a);
    const destinationMs = await timed(b);
    const started = performance.now();
    const r = await checkTable({ ...TABLE, estimatedRows: rows }, a, b);
    const compareMs = performance.now() - started;
    ctx.say(`check: ${rows} rows; A ${secs(sourceMs)} (${rate(rows, sourceMs)} rows/s), B ${secs(destinationMs)} (${rate(rows, destinationMs)} rows/s); compared both at once in ${secs(compareMs)}: ${r.equal ? 'equal' : 'DIFFERENT'}`);
    return { rows, sourceMs, destinationMs, compareMs, equal: r.equal, load };
  } finally {
    await a.close();
    await b.close();
  }
}
