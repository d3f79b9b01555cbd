/**
 * Goal 2: draining a backlog. Both consumers stop at the same source position (the dcsync source task is
 * stopped; the native subscription's slot is created right then and the subscription stays disabled), one
 * pgbench run writes the backlog that both slots keep, then each consumer drains it alone, one after the other.
 * With several rounds (`--backlog-rounds`) every round writes a new backlog and the order alternates (dcsync first
 * in odd rounds, native first in even ones): this machine's speed drifts by tens of percent within minutes, and a
 * fixed order would hand that drift to one side.
 */
import { delay } from '../src/core/time.ts';
import { pollUntil } from './lib/db.ts';
import { SOURCE_DB, type Bench, type Verification } from './lib/context.ts';
import { pgbench, type PgbenchResult } from './lib/pgbench.ts';
import { StageTracker } from './lib/stages.ts';
import { bytes, rate, secs } from './lib/report.ts';
import { cpuBetween, sampleCpu, type CpuGroup } from './lib/cpu.ts';

export interface DrainResult {
  ms: number;
  /** From the start until the first change of the backlog was applied at the target. */
  firstMs: number;
  verification: Verification;
  /** dcsync only: when the backlog was in Kafka A, in Kafka B, applied (approximate). */
  stages?: string;
  /** CPU seconds per part of the deployment during the drain. */
  cpu: string;
}

export interface BacklogResult {
  pgbench: PgbenchResult;
  walBytes: number;
  rowChanges: number;
  slots: { name: string; behindBytes: number }[];
  dcsync: DrainResult;
  native: DrainResult;
  load: string;
  nativeFirst: boolean;
}

export async function runBacklog(ctx: Bench, round = 1): Promise<BacklogResult> {
  const { signal, dcsync, native, opts } = ctx;
  const load = ctx.load();
  const nativeFirst = round % 2 === 0;
  ctx.say(`backlog round ${round}: load average ${load}; ${nativeFirst ? 'native' : 'dcsync'} drains first`);

  // Replication running and caught up: a heartbeat after this point has reached every partition.
  await dcsync.startSource();
  await dcsync.startDestination();
  await dcsync.waitCaughtUp(await ctx.currentLsn(), signal, 300_000, 200);
  await dcsync.stopSource();
  await native.subscribe();
  await ctx.checkpoint();

  const startLsn = await ctx.currentLsn();
  const changesBefore = await ctx.rowChanges();
  const args = ['-n', '-T', String(opts.backlogSeconds), '-c', String(opts.clients), '-j', '2'];
  ctx.say(`  pgbench ${args.join(' ')} with both consumers stopped`);
  const run = await pgbench(ctx.children, ctx.env.pgA.pgEnv(), SOURCE_DB, args, signal);
  ctx.sourceChanged();
  const endLsn = await ctx.currentLsn();
  // Its commit comes after endLsn and reaches every partition: a consumer that applied it applied everything.
  await ctx.markers.catchUp(`backlog-${round}`);
  await delay(1_000, signal); // pgbench's backends flush their statistics as they exit
  const rowChanges = (await ctx.rowChanges()) - changesBefore;
  const walBytes = await ctx.walBytes(startLsn, endLsn);
  const slots = (
    await ctx.src.query<{ name: string; behind: number }>(
      `SELECT slot_name AS name, pg_wal_lsn_diff($1::pg_lsn, confirmed_flush_lsn)::float8 AS behind FROM pg_replication_slots WHERE database = $2 ORDER BY slot_name`,
      [endLsn, SOURCE_DB],
    )
  ).map((r) => ({ name: r.name, behindBytes: r.behind }));
  ctx.say(
    `  backlog: ${run.transactions} transactions (${run.tps.toFixed(0)} tps), ${rowChanges} row changes, ${bytes(walBytes)} of WAL (${startLsn} → ${endLsn}); slots behind: ${slots.map((s) => `${s.name} ${bytes(s.behindBytes)}`).join(', ')}`,
  );

  const cpuGroups: CpuGroup[] = [
    { name: 'PostgreSQL A', pid: () => ctx.env.pgA.pid(), split: [{ name: 'walsender', cmdline: /walsender/ }] },
    {
      name: 'PostgreSQL B',
      pid: () => ctx.env.pgB.pid(),
      split: [
        { name: 'native apply worker', cmdline: /logical replication/ },
        { name: 'PostgreSQL B background', cmdline: /checkpointer|background writer|walwriter|autovacuum/ },
      ],
      exited: 'PostgreSQL B background',
    },
    { name: 'Kafka A', pid: () => ctx.env.kafkaA.pid },
    { name: 'Kafka B', pid: () => ctx.env.kafkaB.pid },
    { name: 'MirrorMaker 2', pid: () => ctx.env.mm2.pid },
    { name: 'dcsync source', pid: () => dcsync.source?.pid },
    { name: 'dcsync destination', pid: () => dcsync.destination?.pid },
  ];

  // dcsync: from starting the source task until every partition applied a position at or after endLsn.
  const drainDcsync = async (): Promise<DrainResult> => {
    await ctx.checkpoint();
    const stages = new StageTracker(ctx.env, dcsync.o.syncId, dcsync.o.database, opts.partitions);
    await stages.start(signal);
    const cpuBefore = sampleCpu(cpuGroups);
    const started = performance.now();
    let first = NaN;
    const reachedAt = new Map<number, number>();
    await dcsync.startSource();
    const done = await pollUntil(
      async () => {
        const p = await dcsync.partitions(endLsn, startLsn);
        if (Number.isNaN(first) && p.moved > 0) first = performance.now();
        if (p.reached > reachedAt.size) for (const n of await dcsync.partitionsAt(endLsn)) if (!reachedAt.has(n)) reachedAt.set(n, performance.now());
        return p.reached >= opts.partitions;
      },
      { what: `dcsync to apply the backlog up to ${endLsn}`, intervalMs: 50, timeoutMs: 3_600_000, signal, check: () => dcsync.check() },
    );
    const cpu = cpuBetween(cpuBefore, sampleCpu(cpuGroups));
    const ms = done - started;
    const firstMs = first - started;
    const stageTimes = await stages.stop(started);
    const perPartition = [...reachedAt].sort((a, b) => a[0] - b[0]).map(([n, at]) => `${n}: ${secs(at - started)}`).join(', ');
    const stageText =
      (stageTimes
        ? `; first records in Kafka A after ${secs(stageTimes.firstSourceMs)}, in Kafka B after ${secs(stageTimes.firstMirrorMs)}; ${stageTimes.records} records in Kafka A after ${secs(stageTimes.sourceMs)}, in Kafka B after ${secs(stageTimes.mirrorMs)}, applied after ${secs(ms)}`
        : '') + (perPartition ? `; partitions done at ${perPartition}` : '');
    ctx.say(`  dcsync drained it in ${secs(ms)} (${rate(run.transactions, ms)} tx/s, ${rate(rowChanges, ms)} row changes/s; first change applied after ${secs(firstMs)}${stageText})`);
    ctx.say(`    CPU during the drain: ${cpu}`);
    const verification = await ctx.verify(dcsync.targetUrl, 'dcsync after the backlog');
    await dcsync.stopSource();
    return { ms, firstMs, verification, stages: stageText.slice(2), cpu };
  };

  // Native: from ALTER SUBSCRIPTION … ENABLE until its origin's remote_lsn is at or after endLsn.
  const drainNative = async (): Promise<DrainResult> => {
    await ctx.checkpoint();
    const cpuBefore = sampleCpu(cpuGroups);
    const started = performance.now();
    let first = NaN;
    await native.enable();
    const done = await pollUntil(
      async () => {
        const p = await native.progress(endLsn, startLsn);
        if (Number.isNaN(first) && p.moved) first = performance.now();
        return p.reached;
      },
      { what: `the native subscription to apply the backlog up to ${endLsn}`, intervalMs: 50, timeoutMs: 3_600_000, signal },
    );
    const cpu = cpuBetween(cpuBefore, sampleCpu(cpuGroups));
    const ms = done - started;
    const firstMs = first - started;
    ctx.say(`  native subscription drained it in ${secs(ms)} (${rate(run.transactions, ms)} tx/s, ${rate(rowChanges, ms)} row changes/s; first change applied after ${secs(firstMs)})`);
    ctx.say(`    CPU during the drain: ${cpu}`);
    const verification = await ctx.verify(native.targetUrl, 'native subscription after the backlog');
    await native.disable(signal);
    return { ms, firstMs, verification, cpu };
  };

  let dcsyncResult: DrainResult;
  let nativeResult: DrainResult;
  if (nativeFirst) {
    nativeResult = await drainNative();
    dcsyncResult = await drainDcsync();
  } else {
    dcsyncResult = await drainDcsync();
    nativeResult = await drainNative();
  }
  ctx.say(`  round ${round}: ${(nativeResult.ms / dcsyncResult.ms).toFixed(2)}× (native ${secs(nativeResult.ms)} / dcsync ${secs(dcsyncResult.ms)})`);
  return { pgbench: run, walBytes, rowChanges, slots, dcsync: dcsyncResult, native: nativeResult, load, nativeFirst };
}
