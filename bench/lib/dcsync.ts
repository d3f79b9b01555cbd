/** The dcsync source and destination tasks of the benchmark's sync, and what the target says about them. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { DaemonHandle } from '../../tools/local/process.ts';
import type { TwoDc } from '../../test/helpers/two-dc.ts';
import { Conn, pollUntil, withDatabase } from './db.ts';

export interface DcsyncOptions {
  syncId: string;
  database: string;
  partitions: number;
  heartbeat: string;
}

/** A dcsync process ended while the benchmark expected it to run; the message ends with its log tail. */
export class WorkerDiedError extends Error {}

export class DcsyncTasks {
  source: DaemonHandle | undefined;
  destination: DaemonHandle | undefined;
  /** The target database on cluster B (the destination names it like the source database). */
  readonly target: Conn;

  constructor(
    private readonly env: TwoDc,
    readonly o: DcsyncOptions,
  ) {
    this.target = new Conn(env.pgB.url(o.database));
  }

  get targetUrl(): string {
    return this.env.pgB.url(this.o.database);
  }

  logFile(name: 'source' | 'destination'): string {
    return path.join(this.env.dir, `${name}.log`);
  }

  async startSource(): Promise<void> {
    if (this.source && !this.source.hasExited) return;
    this.source = await this.env.dcsync('source', [
      'run', 'task', 'source',
      '--cluster.endpoint', this.env.pgA.url('postgres'),
      '--mq.kafka-addr', this.env.kafkaA.bootstrap,
      '--sync.id', this.o.syncId,
      '--databases', this.o.database,
      '--mq.partitions', String(this.o.partitions),
      '--heartbeat', this.o.heartbeat,
    ], {}, profileArgs('source'));
  }

  async startDestination(): Promise<void> {
    if (this.destination && !this.destination.hasExited) return;
    this.destination = await this.env.dcsync('destination', [
      'run', 'task', 'destination',
      '--cluster.endpoint', this.env.pgB.url('postgres'),
      '--mq.kafka-addr', this.env.kafkaB.bootstrap,
      '--sync.id', this.o.syncId,
    ], {}, profileArgs('destination'));
  }

  /** SIGTERM, SIGKILL after 30 s; waits for the exit. */
  async stopSource(): Promise<void> {
    const s = this.source;
    this.source = undefined;
    await s?.stop(30_000);
  }

  /** Throws WorkerDiedError if a task that was started has exited. */
  check(): void {
    for (const [name, h] of [['source', this.source], ['destination', this.destination]] as const) {
      if (h?.hasExited) throw new WorkerDiedError(`dcsync ${name} (pid ${h.pid}) exited unexpectedly; ${this.logFile(name)} ends with:\n${tail(this.logFile(name), 25)}`);
    }
  }

  async snapshotComplete(): Promise<boolean> {
    const rows = await this.target.query<{ done: boolean }>(`SELECT snapshot_complete AS done FROM dcsync.target_sync WHERE sync_id = $1`, [this.o.syncId]);
    return rows[0]?.done === true;
  }

  async rowsCopied(): Promise<number> {
    const r = await this.target.query<{ n: string }>(`SELECT coalesce(sum(rows_copied), 0) AS n FROM dcsync.target_tables WHERE sync_id = $1`, [this.o.syncId]).catch(() => []);
    return Number(r[0]?.n ?? 0);
  }

  /**
   * How many of the changes topic's partitions have applied a position at or after `lsn` (`reached`), and how
   * many moved past `from` (`moved`). Positions are the source commit LSNs (the commit record's start), one row
   * per partition, written in the same target transaction as the data; heartbeats reach every partition.
   */
  async partitions(lsn: string, from: string): Promise<{ reached: number; moved: number }> {
    const r = await this.target.one<{ reached: number; moved: number }>(
      `SELECT count(*) FILTER (WHERE lsn >= $2::pg_lsn)::int AS reached, count(*) FILTER (WHERE lsn > $3::pg_lsn)::int AS moved
         FROM dcsync.applied_position WHERE sync_id = $1 AND partition >= 0`,
      [this.o.syncId, lsn, from],
    );
    return r;
  }

  /** Partitions whose applied position is at or after `lsn` (diagnostic: which partition finishes last). */
  async partitionsAt(lsn: string): Promise<number[]> {
    const r = await this.target.query<{ partition: number }>(
      `SELECT partition FROM dcsync.applied_position WHERE sync_id = $1 AND partition >= 0 AND lsn >= $2::pg_lsn ORDER BY partition`,
      [this.o.syncId, lsn],
    );
    return r.map((x) => x.partition);
  }

  /** Waits until every partition applied a position at or after `lsn`; returns performance.now() of that poll. */
  async waitCaughtUp(lsn: string, signal: AbortSignal, timeoutMs = 600_000, intervalMs = 50): Promise<number> {
    return pollUntil(async () => (await this.partitions(lsn, lsn)).reached >= this.o.partitions, {
      what: `every dcsync partition at ${lsn}`,
      intervalMs,
      timeoutMs,
      signal,
      check: () => this.check(),
    });
  }

  /** Lag of the newest and of the oldest partition position: now − the source commit time it carries. */
  async positionLag(): Promise<{ newestMs: number; oldestMs: number } | undefined> {
    const r = await this.target.query<{ newest: number | null; oldest: number | null }>(
      `SELECT (extract(epoch FROM clock_timestamp() - max(commit_time)) * 1000)::float8 AS newest,
              (extract(epoch FROM clock_timestamp() - min(commit_time)) * 1000)::float8 AS oldest
         FROM dcsync.applied_position WHERE sync_id = $1 AND partition >= 0`,
      [this.o.syncId],
    );
    const row = r[0];
    if (!row || row.newest === null || row.oldest === null) return undefined;
    return { newestMs: row.newest, oldestMs: row.oldest };
  }

  /** Times (ms after `sinceMs`, wall clock) of the first log line with each of these messages. */
  logTimes(name: 'source' | 'destination', messages: readonly string[], sinceMs: number): Map<string, number> {
    const out = new Map<string, number>();
    let text = '';
    try {
      text = readFileSync(this.logFile(name), 'utf8');
    } catch {
      return out;
    }
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const j = JSON.parse(line) as { time?: string; msg?: string };
        if (!j.time || !j.msg || !messages.includes(j.msg) || out.has(j.msg)) continue;
        const t = Date.parse(j.time);
        if (t >= sinceMs) out.set(j.msg, t - sinceMs);
      } catch {
        // not a JSON line
      }
    }
    return out;
  }

  /** Warnings and errors the tasks logged (for the report): each distinct one once, with its count. */
  problems(max = 12): string[] {
    const seen = new Map<string, number>();
    for (const name of ['source', 'destination'] as const) {
      let text = '';
      try {
        text = readFileSync(this.logFile(name), 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) {
        if (!/"level":"(warn|error)"/.test(line)) continue;
        // Same message and details, whatever the time.
        const key = `${name}: ${line.replace(/"time":"[^"]*",?/, '').slice(0, 400)}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
    }
    return [...seen].slice(0, max).map(([k, n]) => (n > 1 ? `${k} (×${n})` : k));
  }

  urlOf(database: string): string {
    return withDatabase(this.targetUrl, database);
  }

  async close(): Promise<void> {
    await this.target.close();
  }
}

export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** `DCSYNC_BENCH_CPU_PROF=<dir>`: the tasks write V8 CPU profiles there when they exit (diagnostic). */
function profileArgs(name: string): string[] {
  const dir = process.env['DCSYNC_BENCH_CPU_PROF'];
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(dir, name)}`] : [];
}
