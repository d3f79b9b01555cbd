/**
 * `npm run bench`: dcsync against its peers, measured in the same run on the same machine (two local datacenters:
 * PostgreSQL A + Kafka A → MirrorMaker 2 → Kafka B + PostgreSQL B). Not a test: it prints numbers, it asserts none.
 *
 *   1. initial sync of a pgbench database vs pg_dump | psql (and pg_dump -Fc | pg_restore) into a fresh database
 *   2. draining the same WAL backlog vs a native logical replication subscription
 *   3. end-to-end lag at a steady pgbench rate, markers inserted at the source and stamped on arrival
 *   4. `check sync`'s hashing rate per side on pgbench_accounts (no peer: the goal is 1M rows/s per side)
 *
 * Everything it starts (clusters, brokers, MirrorMaker, dcsync tasks, pgbench, pg_dump) is stopped by pid on
 * exit, on failure and on Ctrl-C / SIGTERM.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { AbortedError } from '../src/core/time.ts';
import { pgBin } from '../tools/local/postgres.ts';
import { startTwoDc, type TwoDc } from '../test/helpers/two-dc.ts';
import { runBacklog, type BacklogResult } from './backlog.ts';
import { runInitial, type InitialResult } from './initial.ts';
import { runLag, type LagResult } from './lag.ts';
import { runCheck, type CheckResult } from './check.ts';
import { BENCH_TABLES, Bench, PHASES, SOURCE_DB, SYNC_ID, type BenchOptions, type Phase } from './lib/context.ts';
import { Conn, exec, pollUntil } from './lib/db.ts';
import { DcsyncTasks } from './lib/dcsync.ts';
import { MARKER_DDL, Markers } from './lib/markers.ts';
import { NativePeer } from './lib/native.ts';
import { Children, loadAverage } from './lib/proc.ts';
import { bytes, median, ms, rate, ratio, secs, table } from './lib/report.ts';

const USAGE = `npm run bench -- [options]

  --scale N               pgbench scale of the source database (default 50: 5M pgbench_accounts rows)
  --only PHASES           initial, backlog, lag, check, or a comma-separated list (default: all four)
  --backlog-seconds N     pgbench -T of the backlog (default 60)
  --backlog-rounds N      backlogs to write and drain, in alternating order (default 1); the summary gives each
                          round's ratio and their median
  --lag-seconds N         pgbench -T of each lag run (default 30)
  --rate N                pgbench -R of the lag runs, transactions/s (default 500)
  --clients N             pgbench -c (default 4)
  --partitions N          dcsync --mq.partitions (default 8)
  --marker-interval-ms N  one lag marker every N ms (default 200)
  --keep-dir              keep the clusters' directory (logs) afterwards; so does DCSYNC_KEEP_TEST_DIR=1
`;

function positiveInt(name: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`--${name} must be a positive integer, not '${v}'`);
  return n;
}

function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: 'string' },
      only: { type: 'string' },
      'backlog-seconds': { type: 'string' },
      'backlog-rounds': { type: 'string' },
      'lag-seconds': { type: 'string' },
      rate: { type: 'string' },
      clients: { type: 'string' },
      partitions: { type: 'string' },
      'marker-interval-ms': { type: 'string' },
      'keep-dir': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const only = new Set<Phase>();
  for (const p of (values.only ?? PHASES.join(',')).split(',').map((s) => s.trim())) {
    if (!(PHASES as readonly string[]).includes(p)) throw new RangeError(`--only takes ${PHASES.join(', ')} (comma-separated), not '${p}'`);
    only.add(p as Phase);
  }
  return {
    scale: positiveInt('scale', values.scale, 50),
    only,
    backlogSeconds: positiveInt('backlog-seconds', values['backlog-seconds'], 60),
    backlogRounds: positiveInt('backlog-rounds', values['backlog-rounds'], 1),
    lagSeconds: positiveInt('lag-seconds', values['lag-seconds'], 30),
    lagRate: positiveInt('rate', values.rate, 500),
    clients: positiveInt('clients', values.clients, 4),
    partitions: positiveInt('partitions', values.partitions, 8),
    markerIntervalMs: positiveInt('marker-interval-ms', values['marker-interval-ms'], 200),
    keepDir: values['keep-dir'] === true || Boolean(process.env['DCSYNC_KEEP_TEST_DIR']),
  };
}

interface Results {
  setup?: { initMs: number };
  initial?: InitialResult;
  backlog?: BacklogResult[];
  lag?: LagResult;
  check?: CheckResult;
  loadStart: string;
  loadEnd?: string;
  error?: string;
}

function say(msg: string): void {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

async function main(): Promise<number> {
  let opts: BenchOptions | undefined;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) {
    process.stdout.write(USAGE);
    return 0;
  }

  const ac = new AbortController();
  const children = new Children();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) {
      process.stderr.write(`\n${sig} again: exiting now; processes may be left running\n`);
      process.exit(130);
    }
    process.stderr.write(`\n${sig}: stopping everything the benchmark started (${sig} again exits at once)\n`);
    ac.abort();
    void children.killAll();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const signal = ac.signal;

  const results: Results = { loadStart: loadAverage() };
  say(`dcsync benchmark: ${[...opts.only].join(', ')}; scale ${opts.scale}; ${os.cpus().length} cores; Node ${process.version}; load average ${results.loadStart}`);
  let env: TwoDc | undefined;
  let ctx: Bench | undefined;
  let markersConn: Conn | undefined;
  try {
    say('starting PostgreSQL A and B, Kafka A and B, MirrorMaker 2 …');
    env = await startTwoDc({ keepDir: opts.keepDir });
    if (signal.aborted) throw new AbortedError();
    say(`started in ${env.dir} (dcsync task logs: ${env.dir}/source.log, ${env.dir}/destination.log)`);
    const dcsync = new DcsyncTasks(env, { syncId: SYNC_ID, database: SOURCE_DB, partitions: opts.partitions, heartbeat: '1s' });
    const native = new NativePeer(env, children, SOURCE_DB, BENCH_TABLES);
    markersConn = new Conn(env.pgA.url(SOURCE_DB));
    ctx = new Bench(env, opts, signal, children, dcsync, native, new Markers(markersConn));

    // The source database.
    await exec(env.pgA.url('postgres'), `CREATE DATABASE ${SOURCE_DB}`);
    const init = await children.run(pgBin('pgbench'), ['-i', '-s', String(opts.scale), '-q', SOURCE_DB], { env: env.pgA.pgEnv(), signal });
    await exec(env.pgA.url(SOURCE_DB), MARKER_DDL);
    results.setup = { initMs: init.ms };
    say(`pgbench -i -s ${opts.scale}: ${secs(init.ms)}`);

    const needNative = opts.only.has('backlog') || opts.only.has('lag');
    if (opts.only.has('initial')) {
      results.initial = await runInitial(ctx);
      if (needNative && results.initial.plainCopy) await native.adopt(results.initial.plainCopy);
    } else {
      // Untimed: the peers' copy while the source holds nothing of dcsync's, then dcsync's initial sync.
      if (needNative) await native.makeCopy(signal);
      await dcsync.startSource();
      await dcsync.startDestination();
      await pollUntil(() => dcsync.snapshotComplete(), { what: 'the dcsync initial copy', intervalMs: 500, timeoutMs: 3_600_000, signal, check: () => dcsync.check() });
      say('dcsync initial copy complete (untimed)');
    }
    if (needNative) await ctx.vacuumTargets();
    if (opts.only.has('backlog')) {
      results.backlog = [];
      for (let round = 1; round <= opts.backlogRounds; round++) results.backlog.push(await runBacklog(ctx, round));
    }
    if (opts.only.has('lag')) results.lag = await runLag(ctx);
    // Last: the lag phase leaves the source quiet and the target caught up.
    if (opts.only.has('check')) results.check = await runCheck(ctx);
    return 0;
  } catch (err) {
    results.error = signal.aborted ? 'interrupted' : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`\nbenchmark failed: ${results.error}\n`);
    return 1;
  } finally {
    results.loadEnd = loadAverage();
    const problems = ctx?.dcsync.problems() ?? [];
    say('stopping everything …');
    await children.killAll();
    await ctx?.close();
    await ctx?.dcsync.close();
    await ctx?.native.close();
    await markersConn?.close();
    await env?.stop().catch((err: unknown) => process.stderr.write(`stopping the datacenters failed: ${String(err)}\n`));
    if (env && opts.keepDir) say(`kept ${env.dir}`);
    printSummary(opts, results, problems);
  }
}

function printSummary(opts: BenchOptions, r: Results, problems: string[]): void {
  const out: string[] = [''];
  out.push(`=== dcsync benchmark summary: pgbench scale ${opts.scale}, ${os.cpus().length} cores, load average at start ${r.loadStart}, at end ${r.loadEnd ?? '?'} ===`);
  const rows: string[][] = [];
  const i = r.initial;
  if (i) {
    const best = [...i.peers].sort((a, b) => a.ms - b.ms)[0];
    const x = best ? best.ms / i.dcsync.ms : NaN;
    rows.push([
      `1 initial sync (${i.rows} rows)`,
      `${secs(i.dcsync.ms)}, ${rate(i.rows, i.dcsync.ms)} rows/s`,
      best ? `${best.command}: ${secs(best.ms)}, ${rate(i.rows, best.ms)} rows/s` : '-',
      ratio(x),
      '≥ 0.50×',
      x >= 0.5 ? 'yes' : 'NO',
    ]);
  }
  const rounds = r.backlog ?? [];
  for (const [n, b] of rounds.entries()) {
    const x = b.native.ms / b.dcsync.ms;
    rows.push([
      `2 drain ${opts.backlogSeconds} s pgbench backlog${rounds.length > 1 ? ` (round ${n + 1}, ${b.nativeFirst ? 'native' : 'dcsync'} first)` : ''}`,
      `${secs(b.dcsync.ms)}, ${rate(b.pgbench.transactions, b.dcsync.ms)} tx/s`,
      `native subscription: ${secs(b.native.ms)}, ${rate(b.pgbench.transactions, b.native.ms)} tx/s`,
      ratio(x),
      '≥ 1.50×',
      x >= 1.5 ? 'yes' : 'NO',
    ]);
  }
  if (rounds.length > 1) {
    const m = median(rounds.map((b) => b.native.ms / b.dcsync.ms));
    rows.push([`2 drain, median of ${rounds.length} rounds`, '', '', ratio(m), '≥ 1.50×', m >= 1.5 ? 'yes' : 'NO']);
  }
  const l = r.lag;
  if (l) {
    rows.push([
      `3 lag p50 / p99 at ${opts.lagRate} tps`,
      `${ms(l.dcsync.markers.p50)} / ${ms(l.dcsync.markers.p99)}`,
      `native subscription: ${ms(l.native.markers.p50)} / ${ms(l.native.markers.p99)}`,
      `p50 ${ratio(l.dcsync.markers.p50 / l.native.markers.p50)} native's`,
      '-',
      '-',
    ]);
  }
  const c = r.check;
  if (c) {
    const slower = Math.max(c.sourceMs, c.destinationMs);
    rows.push([`4 check sync hash rate (${c.rows} rows)`, `A ${rate(c.rows, c.sourceMs)}, B ${rate(c.rows, c.destinationMs)} rows/s`, '-', '-', '≥ 1M rows/s per side', c.rows / (slower / 1000) >= 1e6 ? 'yes' : 'NO']);
  }
  if (rows.length > 0) out.push(table(['goal', 'dcsync', 'peer (same run, same machine)', 'ratio', 'target', 'met'], rows));
  out.push('');
  if (r.setup) out.push(`setup: pgbench -i -s ${opts.scale} took ${secs(r.setup.initMs)}`);
  if (i) {
    out.push(`1 initial sync, load average ${i.load}: from starting the dcsync tasks until dcsync.target_sync.snapshot_complete (structure, rows, indexes); equality checked afterwards, untimed.`);
    for (const p of i.peers) out.push(`    ${p.command.padEnd(30)} ${secs(p.ms).padStart(8)}  ${rate(i.rows, p.ms)} rows/s  (CREATE DATABASE + the pipe, A → B)`);
    out.push(`    ${'dcsync'.padEnd(30)} ${secs(i.dcsync.ms).padStart(8)}  ${rate(i.rows, i.dcsync.ms)} rows/s  ${i.dcsync.breakdown}`);
    out.push(`    ratio = fastest pg_dump variant's time / dcsync's time; dcsync target ${i.dcsync.verification.detail}`);
  }
  for (const [n, b] of rounds.entries()) {
    out.push(
      `2 backlog${rounds.length > 1 ? ` round ${n + 1}` : ''}, load average ${b.load}: pgbench -T ${opts.backlogSeconds} -c ${opts.clients} -j 2 with both consumers stopped: ${b.pgbench.transactions} transactions (${b.pgbench.tps.toFixed(0)} tps), ${b.rowChanges} row changes, ${bytes(b.walBytes)} of WAL; ${b.nativeFirst ? 'native' : 'dcsync'} drained first`,
    );
    out.push(`    slots behind at the end: ${b.slots.map((s) => `${s.name} ${bytes(s.behindBytes)}`).join(', ')}`);
    out.push(`    dcsync: ${secs(b.dcsync.ms)} from starting the source task until every partition's applied position ≥ the LSN at pgbench's end (first change applied after ${secs(b.dcsync.firstMs)}); ${b.dcsync.verification.detail}`);
    if (b.dcsync.stages) out.push(`      dcsync stages (sampled every 250 ms, approximate): ${b.dcsync.stages}`);
    out.push(`      CPU used meanwhile: ${b.dcsync.cpu}`);
    out.push(`    native: ${secs(b.native.ms)} from ALTER SUBSCRIPTION ENABLE until its origin's remote_lsn > that LSN, i.e. the marker transaction after it applied (first change applied after ${secs(b.native.firstMs)}); ${b.native.verification.detail}`);
    out.push(`      CPU used meanwhile: ${b.native.cpu}`);
    out.push(`    ratio = native time / dcsync time (how many times faster dcsync drains)`);
  }
  if (l) {
    out.push(`3 lag, load average ${l.load}: pgbench -R ${opts.lagRate} -T ${opts.lagSeconds} -c ${opts.clients}; a marker row inserted at the source every ${opts.markerIntervalMs} ms (source clock_timestamp()), stamped at the target by an ENABLE ALWAYS trigger as it is applied; lag = difference`);
    for (const [name, run] of [['dcsync', l.dcsync], ['native', l.native]] as const) {
      const d = run.markers;
      out.push(
        `    ${name.padEnd(7)} markers: p50 ${ms(d.p50)}, p90 ${ms(d.p90)}, p99 ${ms(d.p99)}, max ${ms(d.max)}, mean ${ms(d.mean)} (n=${d.n}${run.missing > 0 ? `, ${run.missing} MISSING` : ''}); pgbench ${run.pgbench.tps.toFixed(0)} tps; caught up ${secs(run.tailMs)} after pgbench; ${run.verification.detail}`,
      );
      if (run.positions)
        out.push(
          `    ${name.padEnd(7)} sampled every 200 ms, now − commit_time of dcsync.applied_position: newest partition p50 ${ms(run.positions.newest.p50)} / p99 ${ms(run.positions.newest.p99)}, oldest partition p50 ${ms(run.positions.oldest.p50)} / p99 ${ms(run.positions.oldest.p99)} (n=${run.positions.newest.n})`,
        );
    }
  }
  if (c) out.push(`4 check, load average ${c.load}: pgbench_accounts' first round (every chunk summary) timed alone at A, then at B, in REPEATABLE READ sessions; then the whole comparison with both at once: ${secs(c.compareMs)}, ${c.equal ? 'equal' : 'DIFFERENT'}`);
  if (problems.length > 0) out.push('dcsync warnings/errors logged:', ...problems.map((p) => '    ' + p));
  if (r.error) out.push(`FAILED: ${r.error.split('\n')[0]}`);
  process.stdout.write(out.join('\n') + '\n');
}

const code = await main();
process.exitCode = code;
// Everything the benchmark started is stopped by now: a handle left open (a client's timer) must not keep it running.
setTimeout(() => process.exit(code), 5_000).unref();
