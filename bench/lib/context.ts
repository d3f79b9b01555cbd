/** What every phase of the benchmark shares: the two datacenters, the workers, the peers, the options. */
import type { TwoDc } from '../../test/helpers/two-dc.ts';
import { Conn, differences, exec, fingerprint, type Fingerprint } from './db.ts';
import type { DcsyncTasks } from './dcsync.ts';
import { ARRIVAL_SCHEMA, type Markers } from './markers.ts';
import type { NativePeer } from './native.ts';
import { loadAverage, type Children } from './proc.ts';
import { secs } from './report.ts';

export type Phase = 'initial' | 'backlog' | 'lag' | 'check';
export const PHASES: readonly Phase[] = ['initial', 'backlog', 'lag', 'check'];

export interface BenchOptions {
  scale: number;
  only: ReadonlySet<Phase>;
  backlogSeconds: number;
  backlogRounds: number;
  lagSeconds: number;
  lagRate: number;
  clients: number;
  partitions: number;
  markerIntervalMs: number;
  keepDir: boolean;
}

/** The source database (on A) and the dcsync target database (on B) share this name. */
export const SOURCE_DB = 'bench';
export const SYNC_ID = 'bench';
/** The tables of the source database that the peers copy and subscribe to. */
export const BENCH_TABLES = ['public.pgbench_accounts', 'public.pgbench_branches', 'public.pgbench_tellers', 'public.pgbench_history', 'public.bench_marker'];

export interface Verification {
  equal: boolean;
  detail: string;
}

export class Bench {
  /** The source database, for the benchmark's own queries. */
  readonly src: Conn;
  /** Cluster B, database postgres. */
  readonly b: Conn;
  #sourceFp: Fingerprint | undefined;

  constructor(
    readonly env: TwoDc,
    readonly opts: BenchOptions,
    readonly signal: AbortSignal,
    readonly children: Children,
    readonly dcsync: DcsyncTasks,
    readonly native: NativePeer,
    readonly markers: Markers,
  ) {
    this.src = new Conn(env.pgA.url(SOURCE_DB));
    this.b = new Conn(env.pgB.url('postgres'));
  }

  say(msg: string): void {
    process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
  }

  /** The 1, 5 and 15 minute load averages. */
  load(): string {
    return loadAverage();
  }

  /**
   * The source's WAL insert position: every transaction committed so far ends at or before it. (Not
   * pg_current_wal_lsn(), the write position, which lags behind with synchronous_commit = off.)
   */
  async currentLsn(): Promise<string> {
    return (await this.src.one<{ lsn: string }>(`SELECT pg_current_wal_insert_lsn()::text AS lsn`)).lsn;
  }

  async walBytes(from: string, to: string): Promise<number> {
    return (await this.src.one<{ n: number }>(`SELECT pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::float8 AS n`, [from, to])).n;
  }

  /** CHECKPOINT on both clusters, so that neither measurement pays for the other's dirty buffers. */
  async checkpoint(): Promise<void> {
    await Promise.all([this.src.query('CHECKPOINT'), this.b.query('CHECKPOINT')]);
  }

  /**
   * VACUUM (ANALYZE) of both targets on B, once both hold their copy, as after any bulk load. Left to autovacuum, its
   * throttled pass over the freshly loaded tables (~30 s at scale 50) starts a minute or two after the load and can
   * fall on the first measured drain only (docs/data-path.md, ninth round). pgbench -i vacuums the source itself.
   */
  async vacuumTargets(): Promise<void> {
    const started = performance.now();
    await Promise.all([this.dcsync.targetUrl, this.native.targetUrl].map((url) => exec(url, 'VACUUM (ANALYZE)')));
    await this.checkpoint();
    this.say(`VACUUM (ANALYZE) of both targets and CHECKPOINT (untimed): ${secs(performance.now() - started)}`);
  }

  /** Call after anything writes to the source database. */
  sourceChanged(): void {
    this.#sourceFp = undefined;
  }

  async sourceFingerprint(): Promise<Fingerprint> {
    this.#sourceFp ??= await fingerprint(this.env.pgA.url(SOURCE_DB));
    return this.#sourceFp;
  }

  /** Compares a target database with the source (untimed; the source must be quiet). */
  async verify(targetUrl: string, label: string): Promise<Verification> {
    const started = performance.now();
    const [s, t] = await Promise.all([this.sourceFingerprint(), fingerprint(targetUrl, [ARRIVAL_SCHEMA])]);
    const diff = differences(s, t);
    const v: Verification = diff.length === 0 ? { equal: true, detail: `equal (${s.size} tables)` } : { equal: false, detail: `DIFFERENT: ${diff.join('; ')}` };
    this.say(`verify ${label}: ${v.detail} [fingerprints took ${secs(performance.now() - started)}]`);
    if (diff.some((d) => d.startsWith('public.bench_marker:'))) {
      const perPhase = async (c: Conn): Promise<string> =>
        (await c.query<{ phase: string; n: string }>(`SELECT phase, count(*) AS n FROM public.bench_marker GROUP BY phase ORDER BY min(id)`)).map((r) => `${r.phase} ${r.n}`).join(', ');
      const t = new Conn(targetUrl);
      try {
        this.say(`  marker rows per phase: source ${await perPhase(this.src)}; target ${await perPhase(t)}`);
      } finally {
        await t.close();
      }
    }
    return v;
  }

  /** Row changes (inserts + updates + deletes) counted by the statistics for the source's user tables. */
  async rowChanges(): Promise<number> {
    return (
      await this.src.one<{ n: number }>(`SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::float8 AS n FROM pg_stat_user_tables WHERE schemaname = 'public'`)
    ).n;
  }

  async close(): Promise<void> {
    await this.src.close();
    await this.b.close();
  }
}
