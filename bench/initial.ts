/**
 * Goal 1: the initial sync of the pgbench database, dcsync (source task → Kafka A → MirrorMaker 2 → Kafka B →
 * destination task) against pg_dump piped into a fresh database of the target cluster.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pgBin } from '../tools/local/postgres.ts';
import { Conn, pollUntil, totalRows } from './lib/db.ts';
import { SOURCE_DB, type Bench, type Verification } from './lib/context.ts';
import { rate, secs } from './lib/report.ts';

export interface TimedCopy {
  name: string;
  command: string;
  ms: number;
}

export interface InitialResult {
  rows: number;
  peers: TimedCopy[];
  dcsync: TimedCopy & { breakdown: string; verification: Verification };
  /** A database on B holding a pg_dump copy made before dcsync touched the source (for the native peer). */
  plainCopy: string | undefined;
  load: string;
}

interface PeerVariant {
  name: string;
  database: string;
  /** Shown in the report; SRC and DST are the two databases' URLs. */
  command: string;
  script: string;
}

const PSQL = `"${pgBin('psql')}" -X -q -v ON_ERROR_STOP=1`;
const VARIANTS: PeerVariant[] = [
  {
    name: 'pg_dump | psql',
    database: 'bench_dump_plain',
    command: 'pg_dump -Fp | psql',
    script: `"${pgBin('pg_dump')}" -Fp -d "$SRC" | ${PSQL} -d "$DST" >/dev/null`,
  },
  {
    name: 'pg_dump -Fc -Z0 | pg_restore',
    database: 'bench_dump_custom',
    command: 'pg_dump -Fc -Z0 | pg_restore',
    script: `"${pgBin('pg_dump')}" -Fc -Z0 -d "$SRC" | "${pgBin('pg_restore')}" --exit-on-error -d "$DST"`,
  },
];

export async function runInitial(ctx: Bench): Promise<InitialResult> {
  const { env, signal } = ctx;
  const load = ctx.load();
  const rows = totalRows(await ctx.sourceFingerprint());
  ctx.say(`initial sync: ${rows} rows in the source database; load average ${load}`);

  // The peers first, while the source database has nothing of dcsync's. Passwords go in a passfile, not on
  // pg_dump's and psql's command lines.
  const passfile = path.join(env.dir, 'bench.pgpass');
  writeFileSync(passfile, [env.pgA.url(SOURCE_DB), env.pgB.url('postgres')].map(passfileLine).join(''), { mode: 0o600 });
  const peers: TimedCopy[] = [];
  for (const v of VARIANTS) {
    await ctx.checkpoint();
    const started = performance.now();
    await ctx.b.query(`CREATE DATABASE "${v.database}" TEMPLATE template0 ENCODING 'UTF8'`);
    await ctx.children.shell(v.script, { env: { SRC: withoutPassword(env.pgA.url(SOURCE_DB)), DST: withoutPassword(env.pgB.url(v.database)), PGPASSFILE: passfile }, signal });
    const ms = performance.now() - started;
    const conn = new Conn(env.pgB.url(v.database));
    const copied = await conn.one<{ n: string }>(`SELECT count(*) AS n FROM public.pgbench_accounts`).finally(() => conn.close());
    peers.push({ name: v.name, command: v.command, ms });
    ctx.say(`  ${v.name}: ${secs(ms)}, ${rate(rows, ms)} rows/s (pgbench_accounts at the target: ${copied.n} rows)`);
  }
  // Only one copy is kept (for the native peer); the others would just take disk space.
  for (const v of VARIANTS.slice(1)) await ctx.b.query(`DROP DATABASE IF EXISTS "${v.database}"`);

  // dcsync: from starting both tasks until the target says the snapshot is complete (structure, rows, indexes).
  await ctx.checkpoint();
  const wallStart = Date.now();
  const started = performance.now();
  await Promise.all([ctx.dcsync.startSource(), ctx.dcsync.startDestination()]);
  let lastReport = performance.now();
  const done = await pollUntil(
    async () => {
      if (await ctx.dcsync.snapshotComplete()) return true;
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        ctx.say(`  dcsync: ${await ctx.dcsync.rowsCopied()} rows copied at the target after ${secs(lastReport - started)}`);
      }
      return false;
    },
    { what: 'dcsync.target_sync.snapshot_complete', intervalMs: 100, timeoutMs: 3_600_000, signal, check: () => ctx.dcsync.check() },
  );
  const ms = done - started;
  const src = ctx.dcsync.logTimes('source', ['slot created', 'initial copy complete'], wallStart);
  const dst = ctx.dcsync.logTimes('destination', ['structure created', 'initial copy applied'], wallStart);
  const at = (m: Map<string, number>, k: string): string => (m.has(k) ? secs(m.get(k)!) : '?');
  const breakdown = `source slot created +${at(src, 'slot created')}, source sent all +${at(src, 'initial copy complete')}, target structure +${at(dst, 'structure created')}, target complete (incl. indexes) +${at(dst, 'initial copy applied')}`;
  ctx.say(`  dcsync: ${secs(ms)}, ${rate(rows, ms)} rows/s (${breakdown})`);
  const verification = await ctx.verify(ctx.dcsync.targetUrl, 'dcsync initial copy');
  return {
    rows,
    peers,
    dcsync: { name: 'dcsync', command: 'dcsync run task source + destination', ms, breakdown, verification },
    plainCopy: VARIANTS[0]!.database,
    load,
  };
}

function withoutPassword(url: string): string {
  const u = new URL(url);
  u.password = '';
  return u.toString();
}

/** host:port:*:user:password (libpq's passfile; ':' and '\\' escaped). */
function passfileLine(url: string): string {
  const u = new URL(url);
  const esc = (v: string): string => v.replace(/[\\:]/g, (c) => `\\${c}`);
  return `${esc(u.hostname)}:${u.port}:*:${esc(decodeURIComponent(u.username))}:${esc(decodeURIComponent(u.password))}\n`;
}
