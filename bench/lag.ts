/**
 * Goal 3: end-to-end lag at a steady pgbench rate. While `pgbench -R <rate>` runs, a marker row is inserted at
 * the source every few hundred ms (its own transaction, stamped with the source's clock_timestamp()); a trigger at
 * the target stamps it again when it is applied. Lag = applied − inserted, per marker. The same for the native
 * subscription, run after dcsync's (never concurrently). For dcsync also the applied positions are sampled:
 * now − the source commit time of the newest (and of the oldest) partition position.
 */
import { delay } from '../src/core/time.ts';
import { Conn } from './lib/db.ts';
import { SOURCE_DB, type Bench, type Verification } from './lib/context.ts';
import { Markers } from './lib/markers.ts';
import { pgbench, type PgbenchResult } from './lib/pgbench.ts';
import { describe, distribution, secs, type Distribution } from './lib/report.ts';

export interface LagRun {
  pgbench: PgbenchResult;
  markers: Distribution;
  sent: number;
  missing: number;
  /** dcsync only: sampled from dcsync.applied_position. */
  positions?: { newest: Distribution; oldest: Distribution };
  /** From the end of pgbench until the consumer applied everything. */
  tailMs: number;
  verification: Verification;
}

export interface LagResult {
  dcsync: LagRun;
  native: LagRun;
  load: string;
}

export async function runLag(ctx: Bench): Promise<LagResult> {
  const { signal, dcsync, native } = ctx;
  const load = ctx.load();
  ctx.say(`lag: load average ${load}`);
  await dcsync.startSource();
  await dcsync.startDestination();
  await dcsync.waitCaughtUp(await ctx.currentLsn(), signal, 300_000, 200);
  await native.subscribe(); // no-op after the backlog phase; else its slot starts here, while the source is quiet
  await Markers.installArrivalTrigger(dcsync.targetUrl);
  await Markers.installArrivalTrigger(native.targetUrl);

  // dcsync streaming, the native subscription disabled.
  await ctx.checkpoint();
  const dcsyncRun = await measure(ctx, 'dcsync', dcsync.target, dcsync.targetUrl, (lsn) => dcsync.waitCaughtUp(lsn, signal), async () => dcsync.positionLag());

  // Native streaming, the dcsync source task stopped. First let the subscription catch up (untimed).
  await dcsync.stopSource();
  await native.enable();
  const lsn = await ctx.currentLsn();
  await ctx.markers.catchUp('lag-native-start');
  await native.waitCaughtUp(lsn, signal);
  await ctx.checkpoint();
  const nativeTarget = new Conn(native.targetUrl);
  try {
    const nativeRun = await measure(ctx, 'native', nativeTarget, native.targetUrl, (l) => native.waitCaughtUp(l, signal), undefined);
    await native.disable(signal);
    return { dcsync: dcsyncRun, native: nativeRun, load };
  } finally {
    await nativeTarget.close();
  }
}

async function measure(
  ctx: Bench,
  name: 'dcsync' | 'native',
  target: Conn,
  targetUrl: string,
  waitCaughtUp: (lsn: string) => Promise<number>,
  sample: (() => Promise<{ newestMs: number; oldestMs: number } | undefined>) | undefined,
): Promise<LagRun> {
  const { signal, opts } = ctx;
  const phase = `lag-${name}`;
  const args = ['-n', '-R', String(opts.lagRate), '-T', String(opts.lagSeconds), '-c', String(opts.clients), '-j', '2'];
  ctx.say(`  ${name}: pgbench ${args.join(' ')}, a marker every ${opts.markerIntervalMs} ms`);

  const newest: number[] = [];
  const oldest: number[] = [];
  let sampling = sample !== undefined;
  const sampler = (async () => {
    while (sampling && sample && !signal.aborted) {
      const s = await sample().catch(() => undefined);
      if (s) {
        newest.push(s.newestMs);
        oldest.push(s.oldestMs);
      }
      await delay(200, signal).catch(() => {});
    }
  })();
  const sender = ctx.markers.send(phase, opts.markerIntervalMs, signal);
  let run: PgbenchResult;
  let sent: number;
  try {
    run = await pgbench(ctx.children, ctx.env.pgA.pgEnv(), SOURCE_DB, args, signal);
  } finally {
    sampling = false;
    await sampler;
    sent = await sender.stop();
    ctx.sourceChanged();
  }

  const ended = performance.now();
  const lsn = await ctx.currentLsn();
  await ctx.markers.catchUp(`${phase}-end`);
  const tailMs = (await waitCaughtUp(lsn)) - ended;
  const { lagsMs, missing } = await Markers.lags(target, phase, sent);
  const markers = distribution(lagsMs);
  const positions = sample ? { newest: distribution(newest), oldest: distribution(oldest) } : undefined;
  ctx.say(`  ${name}: ${run.tps.toFixed(0)} tps; marker lag ${describe(markers)}${missing > 0 ? `, ${missing} MISSING` : ''}; caught up ${secs(tailMs)} after pgbench ended`);
  if (positions) ctx.say(`  ${name}: position lag, newest partition ${describe(positions.newest)}; oldest partition ${describe(positions.oldest)}`);
  const verification = await ctx.verify(targetUrl, `${name} after the lag run`);
  return { pgbench: run, markers, sent, missing, ...(positions ? { positions } : {}), tailMs, verification };
}
